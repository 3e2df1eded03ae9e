//! The Cedar policy engine behind [`Policy`]: the schema and the default policies are compiled
//! into the binary (`crates/promptreg-server/policy/`); an operator's `--policy-file` replaces
//! the policies, validated against the schema at start-up and on every reload.
//!
//! - `source`: parsing and validating a policy file into a [`PolicySet`], and Cedar's
//!   messages for one that fails.
//! - `request`: a principal, action and resource as Cedar entities and context.
//! - `memo`: decisions remembered by every input, so that resolve (which asks on every
//!   request) pays for Cedar once per token and action, not once per request.
//!
//! Two rules stay in Rust and no policy can change them: a principal acts only in its own
//! project (a server administrator may also manage projects and tokens in any project), and
//! whether a token's grant scope reaches a resource is computed here (`in_grant_scope`,
//! because Cedar cannot test "starts with one of a set of prefixes").

mod memo;
mod request;
mod source;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use cedar_policy::{Authorizer, Decision as CedarDecision, PolicySet, Schema};
use parking_lot::RwLock;
use promptreg_core::Role;

use super::error::ServiceError;
use super::policy::{refusal, Action, Decision, Policy, Resource};
use crate::auth::Principal;

pub use source::PolicyError;

/// promptreg's Cedar schema (entity types, attributes, actions).
pub const SCHEMA: &str = include_str!("../../../policy/schema.cedarschema");
/// The policies that ship in the binary.
pub const DEFAULT_POLICIES: &str = include_str!("../../../policy/default.cedar");

/// The engine: the schema, the policy set in force and its decisions so far.
pub struct CedarPolicy {
    schema: Schema,
    authorizer: Authorizer,
    types: request::Types,
    current: RwLock<Arc<Loaded>>,
}

/// Policies that parsed and validated, ready to put in force.
#[derive(Debug, Clone)]
pub struct PreparedPolicies {
    policies: PolicySet,
    origin: String,
}

/// A policy set in force, with the decisions made under it (dropped with it on reload).
struct Loaded {
    policies: PolicySet,
    /// Where it came from (`built-in` or the file's path), for logs.
    origin: String,
    memo: memo::Memo,
}

impl CedarPolicy {
    /// The engine with the shipped policies.
    pub fn builtin() -> Self {
        // Both texts are compiled in and checked by this module's tests.
        #[allow(clippy::expect_used)]
        let schema = source::schema(SCHEMA).expect("the built-in Cedar schema is valid");
        #[allow(clippy::expect_used)]
        let policies = source::policies(&schema, DEFAULT_POLICIES, "the built-in policies")
            .expect("the built-in policies validate");
        Self::with(schema, policies, "built-in".into())
    }

    fn with(schema: Schema, policies: PolicySet, origin: String) -> Self {
        Self {
            schema,
            authorizer: Authorizer::new(),
            types: request::Types::new(),
            current: RwLock::new(Arc::new(Loaded {
                policies,
                origin,
                memo: memo::Memo::default(),
            })),
        }
    }

    /// Replaces the policies with those of `path`, or keeps the ones in force and answers
    /// why not. Returns how many policies are now in force.
    pub fn reload(&self, path: &Path) -> Result<usize, PolicyError> {
        Ok(self.install(self.prepare_file(path)?))
    }

    /// Reads, parses and validates the policies of `path` without putting them in force.
    pub fn prepare_file(&self, path: &Path) -> Result<PreparedPolicies, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::new(path.display(), format!("cannot be read: {e}")))?;
        self.prepare(&text, &path.display().to_string())
    }

    /// Parses and validates the policies in `text` (named `origin` in messages).
    pub fn prepare(&self, text: &str, origin: &str) -> Result<PreparedPolicies, PolicyError> {
        Ok(PreparedPolicies {
            policies: source::policies(&self.schema, text, origin)?,
            origin: origin.to_owned(),
        })
    }

    /// Puts validated policies in force (decisions made under the old ones are forgotten).
    /// Returns how many there are.
    pub fn install(&self, prepared: PreparedPolicies) -> usize {
        let count = prepared.policies.policies().count();
        *self.current.write() = Arc::new(Loaded {
            policies: prepared.policies,
            origin: prepared.origin,
            memo: memo::Memo::default(),
        });
        count
    }

    /// Where the policies in force came from.
    pub fn origin(&self) -> String {
        self.current.read().origin.clone()
    }

    /// What the policies in force decide (no error: a refusal is a decision).
    pub fn decide(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
    ) -> Decision {
        let loaded = self.current.read().clone();
        let key = memo::Key::new(principal, action, resource);
        if let Some(decision) = loaded.memo.get(&key) {
            return decision;
        }
        let decision = self.evaluate(&loaded.policies, principal, action, resource);
        loaded.memo.put(key, decision.clone());
        decision
    }

    fn evaluate(
        &self,
        policies: &PolicySet,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
    ) -> Decision {
        let (request, entities) =
            match request::build(&self.types, &self.schema, principal, action, resource) {
                Ok(built) => built,
                Err(e) => {
                    // Our entities not matching our own schema is a bug; refuse, loudly.
                    tracing::error!(error = %e, ?action, "building the Cedar request failed");
                    return Decision::default();
                }
            };
        let response = self.authorizer.is_authorized(&request, policies, &entities);
        for error in response.diagnostics().errors() {
            // A policy that errs is skipped (Cedar's semantics): say so, it is a policy bug.
            tracing::warn!(error = %error, ?action, "a Cedar policy failed to evaluate");
        }
        let mut ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| id.to_string())
            .collect();
        ids.sort();
        Decision {
            allowed: response.decision() == CedarDecision::Allow,
            policies: ids.into(),
        }
    }
}

impl Policy for CedarPolicy {
    fn check(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
    ) -> Result<Decision, ServiceError> {
        if action == Action::ManageProjects && !principal.server_admin {
            return Err(ServiceError::Forbidden(
                "only a server administrator may create or list all projects".into(),
            ));
        }
        if let Resource::Project(project) = resource {
            let across = matches!(action, Action::ManageProjects | Action::ManageTokens);
            if *project != principal.project && !(principal.server_admin && across) {
                // Never by policy: another project's resources are out of reach.
                return Err(ServiceError::Forbidden(format!(
                    "this token acts in project '{}' only",
                    principal.project
                )));
            }
        }
        let decision = self.decide(principal, action, resource);
        if decision.allowed {
            return Ok(decision);
        }
        // Say which role would do, when one would (a denial is rare: probing is cheap).
        let needed = Role::ALL
            .into_iter()
            .filter(|role| *role > principal.role)
            .find(|role| {
                let higher = Principal {
                    role: *role,
                    ..principal.clone()
                };
                self.decide(&higher, action, resource).allowed
            });
        Err(refusal(principal, action, resource, &decision, needed))
    }
}
