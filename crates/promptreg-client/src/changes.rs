//! Change requests (`docs/api.md`, "Change requests and approvals"): ask for a deploy into a
//! protected environment, list and read requests, approve, reject, apply.

use promptreg_api::{
    AppliedChange, ChangeRequestView, CreateChangeRequest, EnvironmentView, Page,
    ReviewChangeRequest, UpdateEnvironment,
};
use promptreg_core::EnvName;
use reqwest::Method;

use crate::{encode_segment, Client, ClientError, PageRequest};

/// Filters of [`Client::change_requests`].
#[derive(Debug, Clone, Default)]
pub struct ChangeRequestFilter {
    /// `pending`, `approved`, `rejected`, `applied` or `expired`.
    pub status: Option<String>,
    /// Only this environment.
    pub env: Option<String>,
    /// Only this prompt.
    pub prompt: Option<String>,
}

fn request_path(id: &str, action: &str) -> String {
    format!("/v1/change-requests/{}{action}", encode_segment(id))
}

impl Client {
    /// `POST /v1/change-requests`: asks for a deploy into a protected environment (201,
    /// `pending`). 409 `approval_not_needed` for an unprotected environment.
    pub async fn request_change(
        &self,
        body: &CreateChangeRequest,
    ) -> Result<ChangeRequestView, ClientError> {
        self.call(self.request(Method::POST, "/v1/change-requests").json(body))
            .await
    }

    /// `GET /v1/change-requests`: one page, newest first.
    pub async fn change_requests(
        &self,
        filter: &ChangeRequestFilter,
        page: PageRequest,
    ) -> Result<Page<ChangeRequestView>, ClientError> {
        let mut query = Vec::new();
        for (key, value) in [
            ("status", &filter.status),
            ("env", &filter.env),
            ("prompt", &filter.prompt),
        ] {
            if let Some(v) = value {
                query.push((key, v.clone()));
            }
        }
        page.append_to(&mut query);
        self.call(
            self.request(Method::GET, "/v1/change-requests")
                .query(&query),
        )
        .await
    }

    /// `GET /v1/change-requests/{id}`.
    pub async fn change_request(&self, id: &str) -> Result<ChangeRequestView, ClientError> {
        self.call(self.request(Method::GET, &request_path(id, "")))
            .await
    }

    /// `POST /v1/change-requests/{id}/approve`. 403 for your own request or version, 409
    /// `already_reviewed` or when the request is over.
    pub async fn approve_change(
        &self,
        id: &str,
        comment: Option<String>,
    ) -> Result<ChangeRequestView, ClientError> {
        let body = ReviewChangeRequest { comment };
        self.call(
            self.request(Method::POST, &request_path(id, "/approve"))
                .json(&body),
        )
        .await
    }

    /// `POST /v1/change-requests/{id}/reject` (a comment is required).
    pub async fn reject_change(
        &self,
        id: &str,
        comment: String,
    ) -> Result<ChangeRequestView, ClientError> {
        let body = ReviewChangeRequest {
            comment: Some(comment),
        };
        self.call(
            self.request(Method::POST, &request_path(id, "/reject"))
                .json(&body),
        )
        .await
    }

    /// `POST /v1/change-requests/{id}/apply`: deploys an approved request.
    pub async fn apply_change(&self, id: &str) -> Result<AppliedChange, ClientError> {
        self.call(self.request(Method::POST, &request_path(id, "/apply")))
            .await
    }

    /// `PATCH /v1/environments/{env}`: protection and approval count (admins).
    pub async fn update_environment(
        &self,
        env: &EnvName,
        body: &UpdateEnvironment,
    ) -> Result<EnvironmentView, ClientError> {
        let path = format!("/v1/environments/{}", encode_segment(env.as_str()));
        self.call(self.request(Method::PATCH, &path).json(body))
            .await
    }
}
