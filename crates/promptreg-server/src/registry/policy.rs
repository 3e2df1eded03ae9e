//! Who may do what, asked by every service operation with the resource it acts on.
//!
//! Handlers never decide: each `Registry` method calls [`Policy::check`] before it touches
//! the store, so a new route cannot forget authorization. The Cedar engine
//! ([`super::cedar::CedarPolicy`]) decides, from the shipped policies or an operator's.

use std::sync::Arc;

use promptreg_core::{EnvName, GrantScope, ProjectId, PromptName, Role};

use super::error::ServiceError;
use crate::auth::Principal;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// The action's id in Cedar policies (`Action::"deploy"`) and in docs/permissions.md.
    pub fn cedar_name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Resolve => "resolve",
            Action::CreateVersion => "create_version",
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
            Action::ManageEnvironments => "manage_environments",
            Action::CreateEnvironmentByLabel => "create_environment_by_label",
            Action::ManageTokens => "manage_tokens",
            Action::StartRollout => "start_rollout",
            Action::PromoteRollout => "promote_rollout",
            Action::ControlRollout => "control_rollout",
            Action::AbortRollout => "abort_rollout",
            Action::SkipAnalysis => "skip_analysis",
            Action::ReportOutcomes => "report_outcomes",
            Action::ManageWebhooks => "manage_webhooks",
            Action::ReadLedger => "read_ledger",
            Action::RotateKeys => "rotate_keys",
            Action::Export => "export",
            Action::Import => "import",
            Action::ManageLifecycle => "manage_lifecycle",
            Action::ManageProjects => "manage_projects",
            Action::RequestChange => "request_change",
            Action::ReviewChange => "review_change",
            Action::ApplyChange => "apply_change",
            Action::BreakGlass => "break_glass",
            Action::AttachValidation => "attach_validation",
            Action::ConfigureEnvironment => "configure_environment",
            Action::ReadAudit => "read_audit",
        }
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

/// What it acts on. Every resource is in the caller's project unless it says otherwise: a
/// workflow acts in the project its store transaction is opened for, which is the caller's.
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
    /// A version of a prompt about to be created, with the tags it carries.
    Version {
        /// The prompt.
        name: &'a PromptName,
        /// The version's tags.
        tags: &'a [String],
    },
}

impl Resource<'_> {
    /// The environment a pointer resource is in.
    pub fn env(&self) -> Option<&EnvName> {
        match self {
            Resource::Pointer { env, .. } => Some(env),
            _ => None,
        }
    }

    /// The prompt it names, if any.
    pub fn prompt(&self) -> Option<&PromptName> {
        match self {
            Resource::Prompt(name)
            | Resource::Pointer { name, .. }
            | Resource::Version { name, .. } => Some(name),
            Resource::Project(_) => None,
        }
    }

    /// Whether a grant limited by `scope` reaches it (its environment and prompt, when it
    /// has them).
    pub fn in_scope(&self, scope: &GrantScope) -> bool {
        self.env().is_none_or(|e| scope.covers_env(e))
            && self.prompt().is_none_or(|n| scope.covers_prompt(n))
    }
}

impl std::fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Project(p) => write!(f, "in project '{p}'"),
            Resource::Prompt(name) | Resource::Version { name, .. } => {
                write!(f, "on prompt '{name}'")
            }
            Resource::Pointer {
                env,
                protected,
                name,
            } => {
                let protected = if *protected { "protected " } else { "" };
                write!(f, "'{name}' in the {protected}environment '{env}'")
            }
        }
    }
}

/// What the policy decided, and which policies decided it: for an allowed action, the
/// permits that matched; for a refused one, the forbids that matched (none when no policy
/// permitted it). History and the audit log record the ids of an allowed change's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// The ids (`@id` annotations) of the policies that determined it, sorted.
    pub policies: Arc<[String]>,
}

/// A decision point.
pub trait Policy: Send + Sync + 'static {
    /// The decision when `principal` may perform `action` on `resource`; 403 (naming the
    /// action and the resource) when it may not.
    fn check(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
    ) -> Result<Decision, ServiceError>;
}

/// The 403 for a refused decision: names the role, the action, the resource and the
/// policies that forbade it (or that none permitted it).
pub fn refusal(
    principal: &Principal,
    action: Action,
    resource: Resource<'_>,
    decision: &Decision,
    needed: Option<Role>,
) -> ServiceError {
    let why = match &decision.policies[..] {
        [] => "no policy permits it".to_owned(),
        ids => format!("forbidden by policy {}", quoted(ids)),
    };
    let scope = if action.moves_pointer() && !resource.in_scope(&principal.scope) {
        "; this token's grants do not reach it"
    } else {
        ""
    };
    let hint = needed.map_or_else(String::new, |role| {
        format!("; it needs role '{}'", role.as_str())
    });
    ServiceError::Forbidden(format!(
        "role '{}' may not {} {resource}: {why}{scope}{hint}",
        principal.role.as_str(),
        describe(action),
    ))
}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The action in words, for messages.
pub fn describe(action: Action) -> &'static str {
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
