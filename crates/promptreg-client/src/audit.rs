//! The audit log (`docs/api.md`, "Audit log").

use promptreg_api::{AuditEntry, AuditQuery, Page};
use reqwest::Method;

use crate::{Client, ClientError, PageRequest};

impl Client {
    /// `GET /v1/audit`: one page of the project's changes matching `query`, newest first
    /// (`query.limit`/`cursor` are taken from `page`).
    pub async fn audit(
        &self,
        query: &AuditQuery,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, ClientError> {
        let query = AuditQuery {
            limit: page.limit.map(|l| l.to_string()),
            cursor: page.cursor,
            ..query.clone()
        };
        self.call(self.request(Method::GET, "/v1/audit").query(&query))
            .await
    }

    /// `GET /v1/audit/export`: every change matching `query` as JSON lines, written to `out`
    /// as they arrive; returns how many bytes were written.
    pub async fn audit_export(
        &self,
        query: &AuditQuery,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, ClientError> {
        let query = AuditQuery {
            limit: None,
            cursor: None,
            ..query.clone()
        };
        let mut response = self
            .send(self.request(Method::GET, "/v1/audit/export").query(&query))
            .await?;
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(ClientError::Transport)? {
            out.write_all(&chunk).map_err(ClientError::Io)?;
            written += chunk.len() as u64;
        }
        out.flush().map_err(ClientError::Io)?;
        Ok(written)
    }
}
