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
use promptreg_api::Assignment;

/// Who is asking, for a rollout's sticky assignment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The agent, session or tenant id the assignment sticks to.
    pub subject: Option<&'a str>,
    /// `preview`: a blue-green rollout's candidate before its switch.
    pub track: Option<&'a str>,
}

/// What resolve serves: an entry, and the rollout arm when one applies.
pub struct Served {
    /// The version answered.
    pub entry: Arc<Entry>,
    /// The rollout arm, when a rollout is active and a subject or track was given.
    pub assignment: Option<Assignment>,
}

impl Registry {
    /// The principal an `Authorization` header value names; `Ok(None)` when it names none.
    pub async fn authenticate(&self, header: &str) -> ServiceResult<Option<Arc<Principal>>> {
        let now = self.now();
        let cached = self.tokens.authenticate_at(header, now);
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
            .filter(|t| {
                t.revoked_at.is_none()
                    && t.expires_at.is_none_or(|e| e > now)
                    && credential.matches(t)
            })
            .map(|t| Arc::new(Principal::of(&t))))
    }

    /// The entry a caller gets for a pointer, from memory: the live version, or, while a
    /// rollout is active, the arm the subject is assigned to (sticky: the bucket is
    /// `murmur3("<rollout>:<subject>") % 10000`, the candidate when below the weight) or the
    /// blue-green preview on `track=preview`. On a miss, says precisely what is missing: the
    /// prompt, the environment, or a deployment of one in the other.
    pub async fn resolve(
        &self,
        caller: &Caller,
        env: &str,
        name: &str,
        target: &Target<'_>,
    ) -> ServiceResult<Served> {
        self.check(caller, Action::Resolve, Resource::Project(&caller.project))?;
        let project = caller.project.as_str();
        let Some(live) = self.live_entry(project, env, name).await? else {
            return Err(self.explain_miss(caller, env, name).await);
        };
        if target.subject.is_none() && target.track.is_none() {
            return Ok(Served {
                entry: live,
                assignment: None,
            });
        }
        let Some(rollout) = self.index.rollout(project, env, name) else {
            return Ok(Served {
                entry: live,
                assignment: None,
            });
        };
        let o = &rollout.overlay;
        let assignment = |arm: &str, bucket: Option<u32>| Assignment {
            rollout: o.id.clone(),
            arm: arm.to_owned(),
            bucket,
            step: o.step,
        };
        let candidate = rollout.candidate.clone();
        if target.track == Some("preview") {
            if let (true, Some(c)) = (o.preview, candidate.clone()) {
                return Ok(Served {
                    entry: c,
                    assignment: Some(assignment("preview", None)),
                });
            }
        }
        let Some(subject) = target.subject else {
            return Ok(Served {
                entry: live,
                assignment: None,
            });
        };
        let bucket = promptreg_core::rollout::bucket(&o.id, subject);
        let on_candidate = o.switched || promptreg_core::rollout::is_candidate(bucket, o.weight);
        Ok(match (on_candidate, candidate) {
            (true, Some(c)) if !o.switched => Served {
                entry: c,
                assignment: Some(assignment("candidate", Some(bucket))),
            },
            (true, _) => Served {
                entry: live,
                assignment: Some(assignment("candidate", Some(bucket))),
            },
            (false, _) => Served {
                entry: live,
                assignment: Some(assignment("stable", Some(bucket))),
            },
        })
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
        target: &Target<'_>,
        variables: &serde_json::Value,
    ) -> ServiceResult<(Served, Rendered)> {
        let served = self.resolve(caller, env, name, target).await?;
        let rendered = render_with(
            &served.entry.version.content,
            variables,
            &self.options.render,
        )?;
        Ok((served, rendered))
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
