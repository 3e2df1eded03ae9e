//! Versions, prompts and diffs.

use promptreg_api::{CreateVersion, DiffView, Page, PromptSummary, VersionView};
use promptreg_core::{PromptName, Version};
use reqwest::Method;

use crate::{encode_segment, Client, ClientError, PageRequest};

/// Filters of `GET /v1/prompts/{name}/versions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionFilter {
    /// Only versions carrying this metadata tag.
    pub tag: Option<String>,
    /// Only versions compatible with this agent type (`metadata.compat.agent_types`).
    pub agent_type: Option<String>,
}

/// Filters of `GET /v1/prompts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptFilter {
    /// Only names starting with this prefix (e.g. a folder `support/`).
    pub prefix: Option<String>,
    /// Only prompts whose latest version carries this tag.
    pub tag: Option<String>,
    /// Only prompts with a version whose newest result for this suite passed.
    pub validated: Option<String>,
    /// With `validated`: only those whose validated version this environment does not serve.
    pub env: Option<String>,
}

fn prompt_path(name: &PromptName) -> String {
    format!("/v1/prompts/{}", encode_segment(name.as_str()))
}

impl Client {
    /// `POST /v1/prompts/{name}/versions`: creates the next version, or returns the latest
    /// with `created: Some(false)` when its content digest is the same.
    pub async fn create_version(
        &self,
        name: &PromptName,
        body: &CreateVersion,
    ) -> Result<VersionView, ClientError> {
        let path = format!("{}/versions", prompt_path(name));
        self.call(self.request(Method::POST, &path).json(body))
            .await
    }

    /// `GET /v1/prompts/{name}/versions/{version}`.
    pub async fn get_version(
        &self,
        name: &PromptName,
        version: Version,
    ) -> Result<VersionView, ClientError> {
        let path = format!("{}/versions/{version}", prompt_path(name));
        self.call(self.request(Method::GET, &path)).await
    }

    /// `GET /v1/prompts/{name}/versions/latest`: the newest version, deployed or not.
    pub async fn latest_version(&self, name: &PromptName) -> Result<VersionView, ClientError> {
        let path = format!("{}/versions/latest", prompt_path(name));
        self.call(self.request(Method::GET, &path)).await
    }

    /// `GET /v1/prompts/{name}/versions`: one page, newest first.
    pub async fn list_versions(
        &self,
        name: &PromptName,
        filter: &VersionFilter,
        page: PageRequest,
    ) -> Result<Page<VersionView>, ClientError> {
        let path = format!("{}/versions", prompt_path(name));
        let mut query = Vec::new();
        if let Some(tag) = &filter.tag {
            query.push(("tag", tag.clone()));
        }
        if let Some(agent_type) = &filter.agent_type {
            query.push(("agent_type", agent_type.clone()));
        }
        page.append_to(&mut query);
        self.call(self.request(Method::GET, &path).query(&query))
            .await
    }

    /// `GET /v1/prompts`: one page of prompts with their latest version and deployments.
    pub async fn list_prompts(
        &self,
        filter: &PromptFilter,
        page: PageRequest,
    ) -> Result<Page<PromptSummary>, ClientError> {
        let mut query = Vec::new();
        if let Some(prefix) = &filter.prefix {
            query.push(("prefix", prefix.clone()));
        }
        if let Some(tag) = &filter.tag {
            query.push(("tag", tag.clone()));
        }
        if let Some(suite) = &filter.validated {
            query.push(("validated", suite.clone()));
        }
        if let Some(env) = &filter.env {
            query.push(("env", env.clone()));
        }
        page.append_to(&mut query);
        self.call(self.request(Method::GET, "/v1/prompts").query(&query))
            .await
    }

    /// `GET /v1/prompts/{name}`.
    pub async fn get_prompt(&self, name: &PromptName) -> Result<PromptSummary, ClientError> {
        self.call(self.request(Method::GET, &prompt_path(name)))
            .await
    }

    /// `GET /v1/prompts/{name}/diff`: `to` defaults to the latest version, `from` to the one
    /// before `to`.
    pub async fn diff(
        &self,
        name: &PromptName,
        from: Option<Version>,
        to: Option<Version>,
    ) -> Result<DiffView, ClientError> {
        let path = format!("{}/diff", prompt_path(name));
        let mut query = Vec::new();
        if let Some(from) = from {
            query.push(("from", from.to_string()));
        }
        if let Some(to) = to {
            query.push(("to", to.to_string()));
        }
        self.call(self.request(Method::GET, &path).query(&query))
            .await
    }
}
