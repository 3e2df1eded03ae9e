//! What agents call: authentication, resolve and render, answered from memory.
//!
//! While this replica is current (see `follow`), a credential is checked against the in-memory
//! token cache: one hash and one map lookup. When it cannot vouch for that (shared database,
//! feed down or unconfirmed for longer than `stale_after`), a revocation made on another
//! replica might not have reached it, so credentials are checked against the database; if the
//! database does not answer either, the request is refused with 503 rather than let a revoked
//! credential through.

use std::sync::Arc;

use promptreg_core::render::{render_with, Rendered};
use promptreg_core::{EnvName, PromptName};
use promptreg_store::{StoreError, TokenLookup};

use super::{Action, Caller, Registry, Resource, ServiceError, ServiceResult};
use crate::auth::{parse_credential, Credential, Principal};
use crate::index::Entry;

impl Registry {
    /// The principal an `Authorization` header value names; `Ok(None)` when it names none.
    pub async fn authenticate(&self, header: &str) -> ServiceResult<Option<Arc<Principal>>> {
        let cached = self.tokens.authenticate(header);
        if self.is_current() || cached.as_ref().is_some_and(|p| p.is_bootstrap()) {
            return Ok(cached);
        }
        let Some(credential) = parse_credential(header) else {
            return Ok(None);
        };
        let lookup = match &credential {
            Credential::Bearer { hash } => TokenLookup::SecretHash(hex::encode(hash)),
            Credential::KeyPair { public_key, .. } => TokenLookup::PublicKey(public_key.clone()),
        };
        let found = tokio::time::timeout(
            super::follow::POLL_INTERVAL * 4,
            self.store.find_token(&lookup),
        )
        .await
        .map_err(|_| unavailable())?
        .map_err(|e| match e {
            StoreError::Other(cause) | StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "cannot confirm a credential: database unavailable");
                unavailable()
            }
            other => other.into(),
        })?;
        Ok(found
            .filter(|t| t.revoked_at.is_none() && credential.matches(t))
            .map(|t| Arc::new(Principal::of(&t))))
    }

    /// The live entry of a pointer, from memory. On a miss, says precisely what is missing:
    /// the prompt, the environment, or a deployment of one in the other.
    pub async fn resolve(
        &self,
        caller: &Caller,
        env: &str,
        name: &str,
    ) -> ServiceResult<Arc<Entry>> {
        self.check(caller, Action::Resolve, Resource::Project(&caller.project))?;
        if let Some(entry) = self.index.get(caller.project.as_str(), env, name) {
            return Ok(entry);
        }
        Err(self.explain_miss(caller, env, name).await)
    }

    async fn explain_miss(&self, caller: &Caller, env: &str, name: &str) -> ServiceError {
        let name = match PromptName::parse(name) {
            Ok(n) => n,
            Err(e) => return e.into(),
        };
        let env = match EnvName::parse(env) {
            Ok(e) => e,
            Err(e) => return e.into(),
        };
        match self.store.latest_version(&caller.project, &name).await {
            Err(StoreError::NotFound(_)) => {
                return ServiceError::not_found(format!("prompt '{name}' not found"))
            }
            Err(e) => return e.into(),
            Ok(_) => {}
        }
        match self.store.get_environment(&caller.project, &env).await {
            Err(StoreError::NotFound(_)) => {
                return ServiceError::not_found(format!("environment '{env}' not found"))
            }
            Err(e) => return e.into(),
            Ok(_) => {}
        }
        not_deployed(name.as_str(), env.as_str())
    }

    /// Renders the live version of a pointer with variables checked against its schema.
    pub async fn render(
        &self,
        caller: &Caller,
        env: &str,
        name: &str,
        variables: &serde_json::Value,
    ) -> ServiceResult<(Arc<Entry>, Rendered)> {
        let entry = self.resolve(caller, env, name).await?;
        let rendered = render_with(&entry.version.content, variables, &self.options.render)?;
        Ok((entry, rendered))
    }
}

fn unavailable() -> ServiceError {
    ServiceError::Unavailable(
        "this replica cannot confirm credentials: the database does not answer".into(),
    )
}

/// 404 `not_deployed`.
pub fn not_deployed(name: &str, env: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "not_deployed",
        message: format!("prompt '{name}' has no version deployed in environment '{env}'"),
    }
}
