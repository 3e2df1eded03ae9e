//! Bearer tokens and key pairs (admin), and projects.

use promptreg_api::{CreateToken, KeyPairCreated, Page, TokenCreated, TokenInfo};
use reqwest::Method;

use crate::{encode_segment, Client, ClientError, PageRequest};

impl Client {
    /// `POST /v1/tokens`: the answer carries the secret, shown only this once.
    pub async fn create_token(&self, body: &CreateToken) -> Result<TokenCreated, ClientError> {
        self.call(self.request(Method::POST, "/v1/tokens").json(body))
            .await
    }

    /// `GET /v1/tokens`: one page, without secrets.
    pub async fn list_tokens(&self, page: PageRequest) -> Result<Page<TokenInfo>, ClientError> {
        let mut query = Vec::new();
        page.append_to(&mut query);
        self.call(self.request(Method::GET, "/v1/tokens").query(&query))
            .await
    }

    /// `DELETE /v1/tokens/{id}`: revokes a token or key pair at once.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/tokens/{}", encode_segment(id));
        self.send(self.request(Method::DELETE, &path)).await?;
        Ok(())
    }

    /// `POST /v1/key-pairs`: a Basic-auth pair for the Langfuse-compatible routes.
    pub async fn create_key_pair(&self, body: &CreateToken) -> Result<KeyPairCreated, ClientError> {
        self.call(self.request(Method::POST, "/v1/key-pairs").json(body))
            .await
    }
}

impl Client {
    /// `POST /v1/projects`: a new project with development, staging and production (server
    /// administrators only).
    pub async fn create_project(
        &self,
        body: &promptreg_api::CreateProject,
    ) -> Result<promptreg_api::ProjectView, ClientError> {
        self.call(self.request(Method::POST, "/v1/projects").json(body))
            .await
    }

    /// `GET /v1/projects`: every project for a server administrator, else the caller's own.
    pub async fn list_projects(&self) -> Result<Page<promptreg_api::ProjectView>, ClientError> {
        self.call(self.request(Method::GET, "/v1/projects")).await
    }
}
