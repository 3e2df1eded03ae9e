//! Environments, deployments, rollbacks, history and catalogs.

use promptreg_api::{
    CatalogEntry, CreateEnvironment, DeployRequest, DeploymentView, EnvironmentView, Page,
    RollbackRequest,
};
use promptreg_core::{EnvName, PromptName};
use reqwest::Method;

use crate::{encode_segment, Client, ClientError, PageRequest};

fn deployment_path(env: &EnvName, name: &PromptName) -> String {
    format!(
        "/v1/environments/{}/prompts/{}",
        encode_segment(env.as_str()),
        encode_segment(name.as_str())
    )
}

impl Client {
    /// `POST /v1/environments` (admin).
    pub async fn create_environment(
        &self,
        body: &CreateEnvironment,
    ) -> Result<EnvironmentView, ClientError> {
        self.call(self.request(Method::POST, "/v1/environments").json(body))
            .await
    }

    /// `GET /v1/environments`: one page.
    pub async fn list_environments(
        &self,
        page: PageRequest,
    ) -> Result<Page<EnvironmentView>, ClientError> {
        let mut query = Vec::new();
        page.append_to(&mut query);
        self.call(self.request(Method::GET, "/v1/environments").query(&query))
            .await
    }

    /// `PUT /v1/environments/{env}/prompts/{name}`: makes a version live. When it already is,
    /// nothing is recorded and the answer has `changed: Some(false)`.
    pub async fn deploy(
        &self,
        env: &EnvName,
        name: &PromptName,
        body: &DeployRequest,
    ) -> Result<DeploymentView, ClientError> {
        self.call(
            self.request(Method::PUT, &deployment_path(env, name))
                .json(body),
        )
        .await
    }

    /// `POST /v1/environments/{env}/prompts/{name}/rollback`: back to the version live before
    /// the current one, or to `to_version`; recorded as a new move.
    pub async fn rollback(
        &self,
        env: &EnvName,
        name: &PromptName,
        body: &RollbackRequest,
    ) -> Result<DeploymentView, ClientError> {
        let path = format!("{}/rollback", deployment_path(env, name));
        self.call(self.request(Method::POST, &path).json(body))
            .await
    }

    /// `GET /v1/environments/{env}/prompts/{name}/history`: one page, newest first.
    pub async fn history(
        &self,
        env: &EnvName,
        name: &PromptName,
        page: PageRequest,
    ) -> Result<Page<DeploymentView>, ClientError> {
        let path = format!("{}/history", deployment_path(env, name));
        let mut query = Vec::new();
        page.append_to(&mut query);
        self.call(self.request(Method::GET, &path).query(&query))
            .await
    }

    /// `GET /v1/environments/{env}/catalog`: one page of what is live there.
    pub async fn catalog(
        &self,
        env: &EnvName,
        page: PageRequest,
    ) -> Result<Page<CatalogEntry>, ClientError> {
        let path = format!("/v1/environments/{}/catalog", encode_segment(env.as_str()));
        let mut query = Vec::new();
        page.append_to(&mut query);
        self.call(self.request(Method::GET, &path).query(&query))
            .await
    }
}
