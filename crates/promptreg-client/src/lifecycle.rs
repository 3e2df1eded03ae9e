//! Lifecycle rules and pruning (`docs/api.md`, "Retention").

use promptreg_api::{LifecycleView, PruneRequest, PruneView, SetLifecycle};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `GET /v1/lifecycle`: the project's lifecycle rules (all null when never set).
    pub async fn lifecycle(&self) -> Result<LifecycleView, ClientError> {
        self.call(self.request(Method::GET, "/v1/lifecycle")).await
    }

    /// `PUT /v1/lifecycle` (admin): sets the rules (both `None`: no rules).
    pub async fn set_lifecycle(&self, rules: &SetLifecycle) -> Result<LifecycleView, ClientError> {
        self.call(self.request(Method::PUT, "/v1/lifecycle").json(rules))
            .await
    }

    /// `POST /v1/prune` (admin): prunes what the rules let go, or with `dry_run` only says
    /// what (and what is held).
    pub async fn prune(&self, dry_run: bool) -> Result<PruneView, ClientError> {
        self.call(
            self.request(Method::POST, "/v1/prune")
                .json(&PruneRequest { dry_run }),
        )
        .await
    }
}
