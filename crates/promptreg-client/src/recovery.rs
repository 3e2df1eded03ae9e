//! Export and import (disaster recovery): the server's signature over a snapshot the caller
//! read, and restoring a bundle into an empty registry.

use std::time::Duration;

use promptreg_api::{ExportSignRequest, ExportSignature, ImportView};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;

use crate::{Client, ClientError};

/// How long an import may take: the server verifies and writes the whole project in one
/// transaction, which for a large registry is longer than an ordinary request.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Client {
    /// `POST /v1/export/sign` (admin): the server's DSSE envelope over a snapshot's digest,
    /// naming its own ledger root at `tree_size`.
    pub async fn sign_export(
        &self,
        request: &ExportSignRequest,
    ) -> Result<ExportSignature, ClientError> {
        self.call(self.request(Method::POST, "/v1/export/sign").json(request))
            .await
    }

    /// `POST /v1/import` (admin): restores a bundle (its JSON text, sent as it is) into the
    /// caller's project, which must be empty.
    pub async fn import_bundle(&self, bundle_json: String) -> Result<ImportView, ClientError> {
        self.call(
            self.request(Method::POST, "/v1/import")
                .header(CONTENT_TYPE, "application/json")
                .timeout(IMPORT_TIMEOUT)
                .body(bundle_json),
        )
        .await
    }
}
