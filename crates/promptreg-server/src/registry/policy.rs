//! Who may do what, asked by every service operation with the resource it acts on.
//!
//! Handlers never decide: each `Registry` method calls [`Policy::check`] before it touches
//! the store, so a new route cannot forget authorization. The rules today are roles plus the
//! environment's `protected` flag; a policy engine with per-environment grants replaces
//! [`RolePolicy`] behind the same trait.

use promptreg_core::{EnvName, ProjectId, PromptName, Role};

use super::error::ServiceError;
use crate::auth::Principal;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read versions, prompts, environments, history.
    Read,
    /// Resolve or render a deployed prompt.
    Resolve,
    /// Create a version.
    CreateVersion,
    /// Deploy a version (move a pointer forward).
    Deploy,
    /// Roll a pointer back.
    Rollback,
    /// Create environments.
    ManageEnvironments,
    /// Create an environment implicitly, by deploying to a Langfuse label that does not exist.
    CreateEnvironmentByLabel,
    /// Create, list and revoke tokens and key pairs.
    ManageTokens,
    /// Start a rollout (like a deploy: protected environments take more).
    StartRollout,
    /// Promote a rollout (complete a step, or make the candidate live).
    PromoteRollout,
    /// Pause or resume a rollout.
    ControlRollout,
    /// Abort a rollout (like a rollback: how on-call stops an incident).
    AbortRollout,
    /// Skip a rollout's analysis (an emergency bypass).
    SkipAnalysis,
    /// Report agent outcomes.
    ReportOutcomes,
    /// Create, list and delete webhook subscriptions.
    ManageWebhooks,
    /// Read the ledger (checkpoints, entries, proofs) and the public signing keys: what an
    /// auditor needs.
    ReadLedger,
    /// Rotate the server's signing key.
    RotateKeys,
    /// Have the server sign an export of the project (disaster recovery).
    Export,
    /// Restore an export into the (empty) project.
    Import,
    /// Set the project's lifecycle rules and prune versions by them.
    ManageLifecycle,
    /// Create and list projects (server administrators only).
    ManageProjects,
    /// Ask for a change (a deploy into a protected environment) to be approved.
    RequestChange,
    /// Approve or reject someone else's change request.
    ReviewChange,
    /// Deploy an approved change request.
    ApplyChange,
    /// Deploy into a protected environment without an approved request, with a reason
    /// (flagged in history and the audit log).
    BreakGlass,
    /// Attach a validation result to a version.
    AttachValidation,
    /// Set an environment's promotion path, gates and approval count.
    ConfigureEnvironment,
    /// Read the audit log.
    ReadAudit,
}

impl Action {
    /// Whether the action moves (or stages a move of) a pointer: what a token's environment
    /// and prompt-prefix limits restrict.
    pub fn moves_pointer(self) -> bool {
        matches!(
            self,
            Action::Deploy
                | Action::Rollback
                | Action::StartRollout
                | Action::PromoteRollout
                | Action::ControlRollout
                | Action::AbortRollout
                | Action::ApplyChange
                | Action::BreakGlass
        )
    }

    /// Every action, for tables generated from them (the permission table, its tests).
    pub const ALL: [Action; 28] = [
        Action::Read,
        Action::Resolve,
        Action::CreateVersion,
        Action::Deploy,
        Action::Rollback,
        Action::ManageEnvironments,
        Action::CreateEnvironmentByLabel,
        Action::ManageTokens,
        Action::StartRollout,
        Action::PromoteRollout,
        Action::ControlRollout,
        Action::AbortRollout,
        Action::SkipAnalysis,
        Action::ReportOutcomes,
        Action::ManageWebhooks,
        Action::ReadLedger,
        Action::RotateKeys,
        Action::Export,
        Action::Import,
        Action::ManageLifecycle,
        Action::ManageProjects,
        Action::RequestChange,
        Action::ReviewChange,
        Action::ApplyChange,
        Action::BreakGlass,
        Action::AttachValidation,
        Action::ConfigureEnvironment,
        Action::ReadAudit,
    ];
}

/// What it acts on.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// The project as a whole (lists, tokens, environments).
    Project(&'a ProjectId),
    /// One prompt.
    Prompt(&'a PromptName),
    /// One environment's pointer for one prompt.
    Pointer {
        /// The environment.
        env: &'a EnvName,
        /// Whether it is protected.
        protected: bool,
        /// The prompt.
        name: &'a PromptName,
    },
}

/// A decision point.
pub trait Policy: Send + Sync + 'static {
    /// `Ok` when `principal` may perform `action` on `resource`.
    fn check(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
    ) -> Result<(), ServiceError>;
}

/// Roles in order (`reader` < `author` < `reviewer` < `deployer` < `admin`). Who may deploy
/// into a protected environment is a `deployer`, as anywhere; *whether* a deploy there may
/// happen (an approved change request, or an admin's break-glass) is the change-request
/// workflow's question (`registry::changes`), not the policy's. Rolling back stays a
/// `deployer` right without approval, because a rollback is how on-call stops an incident.
#[derive(Debug, Default, Clone, Copy)]
pub struct RolePolicy;

impl RolePolicy {
    /// The least role that may perform `action` on `resource`.
    pub fn needed(action: Action, _resource: Resource<'_>) -> Role {
        match action {
            Action::Read | Action::Resolve | Action::ReportOutcomes | Action::ReadLedger => {
                Role::Reader
            }
            Action::CreateVersion | Action::RequestChange | Action::AttachValidation => {
                Role::Author
            }
            Action::ReviewChange | Action::ReadAudit => Role::Reviewer,
            Action::ApplyChange => Role::Deployer,
            Action::Deploy
            | Action::StartRollout
            | Action::PromoteRollout
            | Action::Rollback
            | Action::CreateEnvironmentByLabel
            | Action::ControlRollout
            | Action::AbortRollout => Role::Deployer,
            Action::ManageEnvironments
            | Action::ManageTokens
            | Action::SkipAnalysis
            | Action::ManageWebhooks
            | Action::RotateKeys
            | Action::Export
            | Action::Import
            | Action::ManageLifecycle
            | Action::BreakGlass
            | Action::ConfigureEnvironment => Role::Admin,
            // Only server administrators; no project role reaches it.
            Action::ManageProjects => Role::Admin,
        }
    }
}

impl Policy for RolePolicy {
    fn check(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
    ) -> Result<(), ServiceError> {
        let needed = Self::needed(action, resource);
        if action == Action::ManageProjects && !principal.server_admin {
            return Err(ServiceError::Forbidden(
                "only a server administrator may manage projects".into(),
            ));
        }
        if let Resource::Pointer { env, name, .. } = resource {
            let scope = &principal.scope;
            if action.moves_pointer() && (!scope.covers_env(env) || !scope.covers_prompt(name)) {
                return Err(ServiceError::Forbidden(format!(
                    "this token's grants do not reach '{name}' in '{env}'"
                )));
            }
        }
        if principal.role >= needed {
            return Ok(());
        }
        let what = match (action, resource) {
            (
                Action::Deploy | Action::StartRollout | Action::PromoteRollout,
                Resource::Pointer {
                    env,
                    protected: true,
                    ..
                },
            ) => {
                format!("{} in the protected environment '{env}'", describe(action))
            }
            _ => describe(action).to_owned(),
        };
        Err(ServiceError::Forbidden(format!(
            "role '{}' may not {what}; it needs role '{}'",
            principal.role.as_str(),
            needed.as_str()
        )))
    }
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Resolve => "resolve prompts",
        Action::CreateVersion => "create versions",
        Action::Deploy => "deploy",
        Action::Rollback => "roll back",
        Action::ManageEnvironments => "manage environments",
        Action::CreateEnvironmentByLabel => "create environments through labels",
        Action::ManageTokens => "manage tokens",
        Action::StartRollout => "start rollouts",
        Action::PromoteRollout => "promote rollouts",
        Action::ControlRollout => "pause or resume rollouts",
        Action::AbortRollout => "abort rollouts",
        Action::SkipAnalysis => "skip rollout analysis",
        Action::ReportOutcomes => "report outcomes",
        Action::ManageWebhooks => "manage webhooks",
        Action::ReadLedger => "read the ledger",
        Action::RotateKeys => "rotate signing keys",
        Action::Export => "export the registry",
        Action::Import => "import a bundle",
        Action::ManageLifecycle => "set lifecycle rules or prune versions",
        Action::ManageProjects => "manage projects",
        Action::RequestChange => "request changes",
        Action::ReviewChange => "approve or reject change requests",
        Action::ApplyChange => "apply change requests",
        Action::BreakGlass => "deploy without an approved change request",
        Action::AttachValidation => "attach validation results",
        Action::ConfigureEnvironment => "configure environments",
        Action::ReadAudit => "read the audit log",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            id: "t".into(),
            name: "n".into(),
            role,
            project: ProjectId::default(),
            server_admin: false,
            scope: Default::default(),
        }
    }

    #[test]
    fn deployers_deploy_and_roll_back_anywhere_and_only_admins_break_glass() {
        let env = EnvName::production();
        let name = PromptName::parse("a").unwrap_or_else(|_| unreachable!());
        let pointer = |protected| Resource::Pointer {
            env: &env,
            protected,
            name: &name,
        };
        let p = RolePolicy;
        assert!(p
            .check(&principal(Role::Deployer), Action::Deploy, pointer(false))
            .is_ok());
        // Whether an approval exists is the change-request workflow's question.
        assert!(p
            .check(&principal(Role::Deployer), Action::Deploy, pointer(true))
            .is_ok());
        assert!(p
            .check(
                &principal(Role::Deployer),
                Action::BreakGlass,
                pointer(true)
            )
            .is_err());
        assert!(p
            .check(&principal(Role::Admin), Action::BreakGlass, pointer(true))
            .is_ok());
        assert!(p
            .check(
                &principal(Role::Author),
                Action::ReviewChange,
                pointer(true)
            )
            .is_err());
        assert!(p
            .check(
                &principal(Role::Reviewer),
                Action::ReviewChange,
                pointer(true)
            )
            .is_ok());
        assert!(p
            .check(&principal(Role::Deployer), Action::Rollback, pointer(true))
            .is_ok());
        assert!(p
            .check(&principal(Role::Author), Action::Rollback, pointer(false))
            .is_err());
    }
}
