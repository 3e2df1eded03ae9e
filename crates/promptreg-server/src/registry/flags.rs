//! Prompts as OpenFeature flags (OFREP): "which prompt version does this subject get in this
//! environment", answered from the resolve index through [`Registry::resolve`], so that a
//! flag evaluation and `GET /v1/resolve?subject=` always agree on the version and the arm.
//!
//! The outcome is a domain verdict ([`Evaluation`]); the OFREP route turns it into OFREP's
//! reasons and error codes. A store read happens only on a miss (to tell an unknown prompt
//! from one with nothing deployed, and an unknown environment from both) and once per bulk
//! evaluation of an environment with nothing live in it.

use std::sync::Arc;

use promptreg_api::Assignment;
use promptreg_core::{EnvName, PromptName};
use promptreg_store::StoreError;

use super::{Action, Caller, Registry, Resource, Served, ServiceError, ServiceResult, Target};
use crate::index::Entry;

/// The verdict of one flag evaluation.
pub enum Evaluation {
    /// The live version; no rollout applies (`STATIC`).
    Static(Arc<Entry>),
    /// An active rollout assigned the subject to an arm (`SPLIT`).
    Split {
        /// The version the arm serves.
        entry: Arc<Entry>,
        /// The arm, exactly as `GET /v1/resolve?subject=` reports it.
        assignment: Assignment,
    },
    /// A rollout is active but no subject was given, so no arm can be chosen: the live
    /// (stable) version is what a subject-less resolve answers.
    TargetingKeyMissing {
        /// The live version.
        entry: Arc<Entry>,
        /// The active rollout's id.
        rollout: String,
    },
    /// The prompt exists but nothing of it is deployed in the environment (`DISABLED`).
    Disabled,
    /// No prompt has this name (or the key cannot name a prompt).
    FlagNotFound,
    /// The environment does not exist or its name is invalid; the text says which.
    InvalidEnvironment(String),
}

/// The verdict of a bulk evaluation of an environment.
pub enum FlagSet {
    /// Every prompt live in the environment (matching the prefix), by name, up to the limit.
    Flags {
        /// Name and verdict of each evaluated prompt.
        flags: Vec<(String, Evaluation)>,
        /// How many live prompts matched before the limit was applied.
        total: usize,
    },
    /// The environment does not exist or its name is invalid.
    InvalidEnvironment(String),
}

impl Registry {
    /// Evaluates the flag `key` (a prompt name) in `env` for `subject`.
    pub async fn evaluate_flag(
        &self,
        caller: &Caller,
        env: &str,
        key: &str,
        subject: Option<&str>,
    ) -> ServiceResult<Evaluation> {
        self.check(caller, Action::Resolve, Resource::Project(&caller.project))?;
        if self.index.slot(caller.project.as_str(), env, key).is_none() {
            return self.flag_miss(caller, env, key).await;
        }
        let target = Target {
            subject,
            track: None,
        };
        match self.resolve(caller, env, key, &target).await {
            Ok(served) => Ok(self.verdict(caller, env, key, subject, served)),
            // Undeployed between the two reads: explain the miss as if it came first.
            Err(ServiceError::NotFound { .. }) => self.flag_miss(caller, env, key).await,
            Err(e) => Err(e),
        }
    }

    /// Evaluates every prompt live in `env` whose name starts with `prefix`, in name order,
    /// at most [`super::RegistryOptions::max_bulk_flags`] of them.
    pub async fn evaluate_flags(
        &self,
        caller: &Caller,
        env: &str,
        prefix: Option<&str>,
        subject: Option<&str>,
    ) -> ServiceResult<FlagSet> {
        let limit = self.options.max_bulk_flags;
        self.check(caller, Action::Resolve, Resource::Project(&caller.project))?;
        let live = self.index.live_in(caller.project.as_str(), env);
        if live.is_empty() {
            // Nothing live: an empty environment, or none at all.
            if let Some(reason) = self.unknown_environment(caller, env).await? {
                return Ok(FlagSet::InvalidEnvironment(reason));
            }
        }
        let matching: Vec<String> = live
            .iter()
            .map(|slot| slot.name())
            .filter(|name| prefix.is_none_or(|p| name.starts_with(p)))
            .map(str::to_owned)
            .collect();
        let total = matching.len();
        let target = Target {
            subject,
            track: None,
        };
        let mut flags = Vec::with_capacity(total.min(limit));
        for name in matching.into_iter().take(limit) {
            let verdict = match self.resolve(caller, env, &name, &target).await {
                Ok(served) => self.verdict(caller, env, &name, subject, served),
                // Undeployed since the listing: no longer part of the set.
                Err(ServiceError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            flags.push((name, verdict));
        }
        Ok(FlagSet::Flags { flags, total })
    }

    fn verdict(
        &self,
        caller: &Caller,
        env: &str,
        name: &str,
        subject: Option<&str>,
        served: Served,
    ) -> Evaluation {
        match served.assignment {
            Some(assignment) => Evaluation::Split {
                entry: served.entry,
                assignment,
            },
            // `resolve` assigns whenever a rollout is active and a subject is given, so
            // without one an active rollout is the only thing that can be missing.
            None => match self.index.rollout(caller.project.as_str(), env, name) {
                Some(r) if subject.is_none() => Evaluation::TargetingKeyMissing {
                    entry: served.entry,
                    rollout: r.overlay.id.clone(),
                },
                _ => Evaluation::Static(served.entry),
            },
        }
    }

    /// Why nothing is live for `key` in `env`: no such prompt, no such environment, or
    /// nothing deployed.
    async fn flag_miss(&self, caller: &Caller, env: &str, key: &str) -> ServiceResult<Evaluation> {
        let Ok(name) = PromptName::parse(key) else {
            return Ok(Evaluation::FlagNotFound);
        };
        match self.store.latest_version(&caller.project, &name).await {
            Err(StoreError::NotFound(_)) => return Ok(Evaluation::FlagNotFound),
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        if let Some(reason) = self.unknown_environment(caller, env).await? {
            return Ok(Evaluation::InvalidEnvironment(reason));
        }
        Ok(Evaluation::Disabled)
    }

    /// `Some(why)` when `env` is not an environment of the caller's project.
    async fn unknown_environment(
        &self,
        caller: &Caller,
        env: &str,
    ) -> ServiceResult<Option<String>> {
        let name = match EnvName::parse(env) {
            Ok(n) => n,
            Err(e) => return Ok(Some(format!("env: {e}"))),
        };
        match self.store.get_environment(&caller.project, &name).await {
            Ok(_) => Ok(None),
            Err(StoreError::NotFound(_)) => Ok(Some(format!(
                "env: environment '{name}' does not exist in project '{}'",
                caller.project
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
