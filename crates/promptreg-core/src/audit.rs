//! How a change appears in the audit log: what it did, to what, and the state it left.
//!
//! The log itself is the project's event log (every change passes through it). This module
//! derives, from one event and nothing else, the facts the audit log filters on (action,
//! prompt, environment) and the *subject* the change acted on: the thing whose state it
//! changed (a pointer, a rollout, a token...). The state *before* a change is the state the
//! previous change of the same subject left, so the store indexes each event's subject and the
//! service reads that previous event; where the event itself says what was there before (a
//! pointer move's `from_version`), that is used.

use serde_json::{json, Value};

use crate::event::{ChangeEvent, EventRecord};
use crate::rollout::RolloutAction;

/// The facts of a change the audit log is filtered and joined on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditKeys {
    /// What was done: `deploy`, `rollback`, `version_created`, `rollout_started`, ...
    pub action: String,
    /// The prompt it concerns, if one.
    pub prompt: Option<String>,
    /// The environment it concerns, if one.
    pub env: Option<String>,
    /// The thing whose state it changed (`pointer:production/support/triage`,
    /// `rollout:<id>`, `token:<id>`, ...): the previous change of the same subject holds the
    /// state before this one.
    pub subject: String,
}

/// The audit keys of a change.
pub fn keys(change: &ChangeEvent) -> AuditKeys {
    let (action, prompt, env, subject) = match change {
        ChangeEvent::VersionCreated { name, .. } => (
            "version_created".to_owned(),
            Some(name.to_string()),
            None,
            format!("prompt:{name}"),
        ),
        ChangeEvent::PointerMoved {
            env, name, kind, ..
        } => (
            kind.as_str().to_owned(),
            Some(name.to_string()),
            Some(env.to_string()),
            format!("pointer:{env}/{name}"),
        ),
        ChangeEvent::EnvironmentCreated { env, .. } => (
            "environment_created".to_owned(),
            None,
            Some(env.to_string()),
            format!("environment:{env}"),
        ),
        ChangeEvent::RolloutChanged {
            env,
            name,
            rollout,
            action,
            ..
        } => (
            format!("rollout_{}", rollout_action(action)),
            Some(name.to_string()),
            Some(env.to_string()),
            format!("rollout:{rollout}"),
        ),
        ChangeEvent::AnalysisResult {
            env,
            name,
            rollout,
            analysis,
            ..
        } => (
            "analysis_result".to_owned(),
            Some(name.to_string()),
            Some(env.to_string()),
            format!("analysis:{rollout}:{}", json_str(analysis)),
        ),
        ChangeEvent::TokenCreated { id, .. } => (
            "token_created".to_owned(),
            None,
            None,
            format!("token:{id}"),
        ),
        ChangeEvent::TokenRevoked { id, .. } => (
            "token_revoked".to_owned(),
            None,
            None,
            format!("token:{id}"),
        ),
        ChangeEvent::WebhookCreated { id, .. } => (
            "webhook_created".to_owned(),
            None,
            None,
            format!("webhook:{id}"),
        ),
        ChangeEvent::WebhookDeleted { id, .. } => (
            "webhook_deleted".to_owned(),
            None,
            None,
            format!("webhook:{id}"),
        ),
        ChangeEvent::VersionPruned { name, version, .. } => (
            "version_pruned".to_owned(),
            Some(name.to_string()),
            None,
            format!("version:{name}@{version}"),
        ),
        ChangeEvent::LifecycleSet { .. } => (
            "lifecycle_set".to_owned(),
            None,
            None,
            "lifecycle".to_owned(),
        ),
        ChangeEvent::ValidationAttached {
            name,
            version,
            suite,
            ..
        } => (
            "validation_attached".to_owned(),
            Some(name.to_string()),
            None,
            format!("validation:{name}@{version}/{suite}"),
        ),
        ChangeEvent::EnvironmentGatesSet { env, .. } => (
            "environment_gates_set".to_owned(),
            None,
            Some(env.to_string()),
            format!("gates:{env}"),
        ),
        ChangeEvent::ChangeRequested { id, env, name, .. } => (
            "change_requested".to_owned(),
            Some(name.to_string()),
            Some(env.to_string()),
            format!("change_request:{id}"),
        ),
        ChangeEvent::ChangeReviewed { id, verdict, .. } => (
            match verdict {
                crate::change::Verdict::Approve => "change_approved",
                crate::change::Verdict::Reject => "change_rejected",
            }
            .to_owned(),
            None,
            None,
            format!("change_request:{id}"),
        ),
        ChangeEvent::ChangeApplied { id, .. } => (
            "change_applied".to_owned(),
            None,
            None,
            format!("change_request:{id}"),
        ),
        ChangeEvent::ProjectCreated { project, .. } => (
            "project_created".to_owned(),
            None,
            None,
            format!("project:{project}"),
        ),
        ChangeEvent::EnvironmentUpdated { env, .. } => (
            "environment_updated".to_owned(),
            None,
            Some(env.to_string()),
            format!("environment:{env}"),
        ),
    };
    AuditKeys {
        action,
        prompt,
        env,
        subject,
    }
}

/// The state a change left its subject in (`null`: the subject is gone).
pub fn state_after(change: &ChangeEvent) -> Value {
    match change {
        ChangeEvent::VersionCreated {
            version, digest, ..
        } => json!({ "latest_version": version, "digest": digest }),
        ChangeEvent::PointerMoved {
            to_version, digest, ..
        } => json!({ "version": to_version, "digest": digest }),
        ChangeEvent::EnvironmentCreated { env, .. } => json!({ "environment": env }),
        ChangeEvent::RolloutChanged {
            status,
            step,
            weight,
            strategy,
            switched,
            stable_version,
            candidate_version,
            ..
        } => json!({
            "status": status,
            "step": step,
            "weight": weight,
            "strategy": strategy,
            "switched": switched,
            "stable_version": stable_version,
            "candidate_version": candidate_version,
        }),
        ChangeEvent::AnalysisResult { phase, summary, .. } => {
            json!({ "phase": phase, "summary": summary })
        }
        ChangeEvent::TokenCreated { .. } => json!({ "active": true }),
        ChangeEvent::TokenRevoked { .. } => json!({ "active": false }),
        ChangeEvent::WebhookCreated { url, events, .. } => json!({ "url": url, "events": events }),
        ChangeEvent::WebhookDeleted { .. } => Value::Null,
        ChangeEvent::VersionPruned {
            version, digest, ..
        } => json!({ "version": version, "digest": digest, "content": "pruned" }),
        ChangeEvent::LifecycleSet {
            keep_last,
            prune_unused_after,
            ..
        } => json!({ "keep_last": keep_last, "prune_unused_after": prune_unused_after }),
        ChangeEvent::ValidationAttached {
            version,
            digest,
            id,
            passed,
            ..
        } => json!({ "version": version, "digest": digest, "result": id, "passed": passed }),
        ChangeEvent::EnvironmentGatesSet {
            required_predecessor,
            gates,
            ..
        } => json!({ "required_predecessor": required_predecessor, "gates": gates }),
        ChangeEvent::ChangeRequested {
            version, digest, ..
        } => json!({ "status": "pending", "version": version, "digest": digest }),
        ChangeEvent::ChangeReviewed { status, .. } => json!({ "status": status }),
        ChangeEvent::ChangeApplied { rollout, .. } => {
            json!({ "status": "applied", "rollout": rollout })
        }
        ChangeEvent::ProjectCreated { project, .. } => json!({ "project": project }),
        ChangeEvent::EnvironmentUpdated {
            env,
            protected,
            approvals_required,
            ..
        } => json!({
            "environment": env,
            "protected": protected,
            "approvals_required": approvals_required,
        }),
    }
}

/// The state before a change when the event itself says it; `None` when it is the state the
/// previous change of the same subject left.
pub fn state_before_in_event(change: &ChangeEvent) -> Option<Value> {
    match change {
        // A pointer's first move came from nothing; later ones name the version they left
        // (its digest comes from the previous move of the same pointer).
        ChangeEvent::PointerMoved {
            from_version: None, ..
        } => Some(Value::Null),
        ChangeEvent::VersionPruned {
            version, digest, ..
        } => Some(json!({ "version": version, "digest": digest, "content": "present" })),
        _ => None,
    }
}

/// The state before `record`, given the previous change of the same subject (if any).
pub fn state_before(record: &EventRecord, previous: Option<&EventRecord>) -> Value {
    if let Some(known) = state_before_in_event(&record.change) {
        return known;
    }
    previous.map_or(Value::Null, |p| state_after(&p.change))
}

fn rollout_action(action: &RolloutAction) -> &'static str {
    match action {
        RolloutAction::Started => "started",
        RolloutAction::StepCompleted { .. } => "step_completed",
        RolloutAction::Paused { .. } => "paused",
        RolloutAction::Resumed => "resumed",
        RolloutAction::Promoted => "promoted",
        RolloutAction::Switched => "switched",
        RolloutAction::Aborted => "aborted",
        RolloutAction::RolledBack { .. } => "rolled_back",
        RolloutAction::AnalysisSkipped => "analysis_skipped",
    }
}

/// A unit enum's serde spelling.
fn json_str<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Digest;
    use crate::deploy::DeployKind;
    use crate::name::{EnvName, ProjectId, PromptName, Version};

    fn digest() -> Digest {
        Digest::of_bytes(b"x")
    }

    fn moved(from: Option<i64>, to: i64, kind: DeployKind) -> ChangeEvent {
        ChangeEvent::PointerMoved {
            project: ProjectId::default(),
            env: EnvName::production(),
            name: PromptName::parse("support/triage").unwrap(),
            seq: to,
            from_version: from.map(|v| Version::new(v).unwrap()),
            to_version: Version::new(to).unwrap(),
            digest: digest(),
            kind,
            signature: None,
            approval: None,
        }
    }

    fn record(seq: i64, change: ChangeEvent) -> EventRecord {
        EventRecord {
            project: ProjectId::default(),
            seq,
            at: chrono::Utc::now(),
            actor: "t:n".into(),
            reason: None,
            request_id: None,
            policies: None,
            change,
        }
    }

    #[test]
    fn a_pointer_move_is_keyed_by_its_pointer_and_named_by_its_kind() {
        let keys = keys(&moved(Some(1), 2, DeployKind::Rollback));
        assert_eq!(keys.action, "rollback");
        assert_eq!(keys.subject, "pointer:production/support/triage");
        assert_eq!(keys.prompt.as_deref(), Some("support/triage"));
        assert_eq!(keys.env.as_deref(), Some("production"));
    }

    #[test]
    fn the_state_before_is_what_the_previous_change_of_the_subject_left() {
        let first = record(1, moved(None, 1, DeployKind::Deploy));
        let second = record(2, moved(Some(1), 2, DeployKind::Deploy));
        assert_eq!(state_before(&first, None), Value::Null);
        let before = state_before(&second, Some(&first));
        assert_eq!(before["version"], json!(1));
        assert_eq!(before["digest"], json!(digest()));
        assert_eq!(state_after(&second.change)["version"], json!(2));
    }

    #[test]
    fn a_revocation_shows_the_token_going_from_active_to_not() {
        let created = record(
            1,
            ChangeEvent::TokenCreated {
                project: ProjectId::default(),
                id: "tok".into(),
            },
        );
        let revoked = record(
            2,
            ChangeEvent::TokenRevoked {
                project: ProjectId::default(),
                id: "tok".into(),
            },
        );
        assert_eq!(keys(&created.change).subject, keys(&revoked.change).subject);
        assert_eq!(
            state_before(&revoked, Some(&created)),
            json!({"active": true})
        );
        assert_eq!(state_after(&revoked.change), json!({"active": false}));
    }
}
