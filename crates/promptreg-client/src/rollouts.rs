//! Rollouts (`docs/api.md`, "Rollouts"): start one on a pointer, read it, and the commands a
//! person gives it (promote, pause, resume, abort, skip analysis).

use promptreg_api::{Page, RolloutCommandRequest, RolloutView, StartRollout};
use promptreg_core::{EnvName, PromptName};
use reqwest::Method;

use crate::{encode_segment, Client, ClientError, PageRequest};

/// `/v1/environments/{env}/prompts/{name}/rollouts`.
fn pointer_rollouts(env: &EnvName, name: &PromptName) -> String {
    format!(
        "/v1/environments/{}/prompts/{}/rollouts",
        encode_segment(env.as_str()),
        encode_segment(name.as_str())
    )
}

impl Client {
    /// `POST /v1/environments/{env}/prompts/{name}/rollouts`: starts rolling `candidate` out
    /// from the version live now. 409 `rollout_in_progress`, `candidate_is_stable` or
    /// `not_deployed`; 422 naming the field of a strategy or analysis that does not parse.
    pub async fn start_rollout(
        &self,
        env: &EnvName,
        name: &PromptName,
        body: &StartRollout,
    ) -> Result<RolloutView, ClientError> {
        let path = pointer_rollouts(env, name);
        self.call(self.request(Method::POST, &path).json(body))
            .await
    }

    /// `GET /v1/rollouts/{id}`: one rollout with its step, weight, per-arm figures and last
    /// analysis results.
    pub async fn rollout(&self, id: &str) -> Result<RolloutView, ClientError> {
        let path = format!("/v1/rollouts/{}", encode_segment(id));
        self.call(self.request(Method::GET, &path)).await
    }

    /// `GET …/rollouts/current`: the pointer's rollout in progress; `None` when there is none
    /// (the server's 404 `no_active_rollout`). An unknown prompt or environment is still an
    /// error.
    pub async fn current_rollout(
        &self,
        env: &EnvName,
        name: &PromptName,
    ) -> Result<Option<RolloutView>, ClientError> {
        let path = format!("{}/current", pointer_rollouts(env, name));
        match self.call(self.request(Method::GET, &path)).await {
            Ok(view) => Ok(Some(view)),
            Err(e) if e.code() == Some("no_active_rollout") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET …/rollouts`: one page of the pointer's rollouts, newest first.
    pub async fn rollouts(
        &self,
        env: &EnvName,
        name: &PromptName,
        page: PageRequest,
    ) -> Result<Page<RolloutView>, ClientError> {
        let mut query = Vec::new();
        page.append_to(&mut query);
        let path = pointer_rollouts(env, name);
        self.call(self.request(Method::GET, &path).query(&query))
            .await
    }

    /// `GET /v1/rollouts?status=`: one page of the project's rollouts, newest first, only
    /// those in `status` when given (`progressing`, `paused`, `promoted`, `aborted`,
    /// `rolled_back`).
    pub async fn all_rollouts(
        &self,
        status: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<RolloutView>, ClientError> {
        let mut query = Vec::new();
        if let Some(status) = status {
            query.push(("status", status.to_owned()));
        }
        page.append_to(&mut query);
        self.call(self.request(Method::GET, "/v1/rollouts").query(&query))
            .await
    }

    /// `POST /v1/rollouts/{id}/promote`: completes the current step; `full` makes the
    /// candidate live at once.
    pub async fn promote(
        &self,
        id: &str,
        full: bool,
        reason: Option<&str>,
    ) -> Result<RolloutView, ClientError> {
        let body = RolloutCommandRequest {
            reason: reason.map(str::to_owned),
            // Sent only when asked for: `false` and absent mean the same to the server.
            full: full.then_some(true),
        };
        self.rollout_command(id, "promote", &body).await
    }

    /// `POST /v1/rollouts/{id}/pause`: holds the current weight.
    pub async fn pause(&self, id: &str, reason: Option<&str>) -> Result<RolloutView, ClientError> {
        self.rollout_command(id, "pause", &reason_only(reason))
            .await
    }

    /// `POST /v1/rollouts/{id}/resume`: resumes; at a pause step or an approval, completes it.
    pub async fn resume(&self, id: &str, reason: Option<&str>) -> Result<RolloutView, ClientError> {
        self.rollout_command(id, "resume", &reason_only(reason))
            .await
    }

    /// `POST /v1/rollouts/{id}/abort`: stable serves everyone again.
    pub async fn abort(&self, id: &str, reason: Option<&str>) -> Result<RolloutView, ClientError> {
        self.rollout_command(id, "abort", &reason_only(reason))
            .await
    }

    /// `POST /v1/rollouts/{id}/skip-analysis` (admin): no analysis acts on it any more.
    pub async fn skip_analysis(
        &self,
        id: &str,
        reason: Option<&str>,
    ) -> Result<RolloutView, ClientError> {
        self.rollout_command(id, "skip-analysis", &reason_only(reason))
            .await
    }

    async fn rollout_command(
        &self,
        id: &str,
        action: &str,
        body: &RolloutCommandRequest,
    ) -> Result<RolloutView, ClientError> {
        let path = format!("/v1/rollouts/{}/{action}", encode_segment(id));
        self.call(self.request(Method::POST, &path).json(body))
            .await
    }
}

fn reason_only(reason: Option<&str>) -> RolloutCommandRequest {
    RolloutCommandRequest {
        reason: reason.map(str::to_owned),
        full: None,
    }
}
