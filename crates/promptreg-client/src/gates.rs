//! Validation results and promotion gates (`docs/api.md`, "Validation results" and
//! "Promotion gates").

use promptreg_api::{AttachValidation, GatesView, SetGates, ValidationList, ValidationView};
use promptreg_core::{EnvName, PromptName, Version};
use reqwest::Method;

use crate::{encode_segment, Client, ClientError};

fn validations_path(name: &PromptName, version: Version) -> String {
    format!(
        "/v1/prompts/{}/versions/{version}/validations",
        encode_segment(name.as_str())
    )
}

fn gates_path(env: &EnvName) -> String {
    format!("/v1/environments/{}/gates", encode_segment(env.as_str()))
}

impl Client {
    /// `POST /v1/prompts/{name}/versions/{version}/validations`: attaches a result (never
    /// changed afterwards; attaching the same suite again adds a newer result).
    pub async fn attach_validation(
        &self,
        name: &PromptName,
        version: Version,
        body: &AttachValidation,
    ) -> Result<ValidationView, ClientError> {
        self.call(
            self.request(Method::POST, &validations_path(name, version))
                .json(body),
        )
        .await
    }

    /// `GET /v1/prompts/{name}/versions/{version}/validations`: every result, oldest first.
    pub async fn list_validations(
        &self,
        name: &PromptName,
        version: Version,
    ) -> Result<ValidationList, ClientError> {
        self.call(self.request(Method::GET, &validations_path(name, version)))
            .await
    }

    /// `GET /v1/environments/{env}/gates`.
    pub async fn gates(&self, env: &EnvName) -> Result<GatesView, ClientError> {
        self.call(self.request(Method::GET, &gates_path(env))).await
    }

    /// `PUT /v1/environments/{env}/gates` (admin): replaces the environment's rules.
    pub async fn set_gates(
        &self,
        env: &EnvName,
        body: &SetGates,
    ) -> Result<GatesView, ClientError> {
        self.call(self.request(Method::PUT, &gates_path(env)).json(body))
            .await
    }
}
