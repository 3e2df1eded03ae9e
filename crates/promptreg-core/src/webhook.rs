//! Webhooks: which changes are delivered under which names, how a delivery is signed, and when
//! a failed delivery is tried again. Pure: the dispatcher (server) does the I/O.
//!
//! Token, webhook and lifecycle-rule changes are not delivered: they concern credentials, the
//! subscriptions and the registry's own settings, and a receiver that learnt of them would
//! learn who holds access, not what is served. They stay in the event log, the audit trail.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::event::ChangeEvent;
use crate::rollout::RolloutAction;

/// Every event name a webhook can subscribe to, in documentation order.
pub const EVENT_NAMES: [&str; 14] = [
    "version_created",
    "version_pruned",
    "pointer_moved",
    "environment_created",
    "rollout_started",
    "rollout_step_completed",
    "rollout_paused",
    "rollout_resumed",
    "rollout_promoted",
    "rollout_switched",
    "rollout_aborted",
    "rollout_rolled_back",
    "rollout_analysis_skipped",
    "analysis_result",
];

/// How many times one event is posted before it is marked `failed` and skipped.
pub const MAX_ATTEMPTS: u32 = 8;
/// The first wait before a retry; it doubles after each failed attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The webhook name of a change, or `None` for a change webhooks do not carry.
pub fn event_name(change: &ChangeEvent) -> Option<&'static str> {
    Some(match change {
        ChangeEvent::VersionCreated { .. } => "version_created",
        ChangeEvent::VersionPruned { .. } => "version_pruned",
        ChangeEvent::PointerMoved { .. } => "pointer_moved",
        ChangeEvent::EnvironmentCreated { .. } => "environment_created",
        ChangeEvent::RolloutChanged { action, .. } => match action {
            RolloutAction::Started => "rollout_started",
            RolloutAction::StepCompleted { .. } => "rollout_step_completed",
            RolloutAction::Paused { .. } => "rollout_paused",
            RolloutAction::Resumed => "rollout_resumed",
            RolloutAction::Promoted => "rollout_promoted",
            RolloutAction::Switched => "rollout_switched",
            RolloutAction::Aborted => "rollout_aborted",
            RolloutAction::RolledBack { .. } => "rollout_rolled_back",
            RolloutAction::AnalysisSkipped => "rollout_analysis_skipped",
        },
        ChangeEvent::AnalysisResult { .. } => "analysis_result",
        ChangeEvent::TokenCreated { .. }
        | ChangeEvent::TokenRevoked { .. }
        | ChangeEvent::WebhookCreated { .. }
        | ChangeEvent::WebhookDeleted { .. }
        | ChangeEvent::LifecycleSet { .. }
        | ChangeEvent::ValidationAttached { .. }
        | ChangeEvent::EnvironmentGatesSet { .. } => return None,
        // Change requests are read through the API (`GET /v1/change-requests`); the move an
        // applied one makes is delivered as `pointer_moved`.
        ChangeEvent::ChangeRequested { .. }
        | ChangeEvent::ChangeReviewed { .. }
        | ChangeEvent::ChangeApplied { .. }
        | ChangeEvent::EnvironmentUpdated { .. }
        | ChangeEvent::ProjectCreated { .. } => return None,
    })
}

/// Checks a subscription's event names: each must be one of [`EVENT_NAMES`]. Returns them
/// sorted without duplicates (empty: every event), or the first unknown name.
pub fn parse_events(names: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if !EVENT_NAMES.contains(&name.as_str()) {
            return Err(name.clone());
        }
        out.push(name.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Whether a subscription with `filter` (empty: all) receives `name`.
pub fn wants(filter: &[String], name: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| f == name)
}

/// Lowercase hex HMAC-SHA256 of `message` under `secret`.
pub fn hmac_hex(secret: &[u8], message: &[u8]) -> String {
    // `new_from_slice` accepts keys of any length for HMAC, so this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Promptreg-Signature` header for `body` sent at `t` (unix seconds):
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Signing the time with the body lets a
/// receiver refuse replays of an old delivery.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    format!("t={t},v1={}", hmac_hex(secret.as_bytes(), &message))
}

/// How long to wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s, … capped at
/// [`MAX_BACKOFF`]; `None` once [`MAX_ATTEMPTS`] have failed (the delivery is given up).
pub fn retry_after(attempts: u32) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = attempts.saturating_sub(1).min(20);
    Some((FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_signature_covers_time_and_body() {
        let s = signature("Jefe", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            format!("t=1700000000,v1={}", hmac_hex(b"Jefe", b"1700000000.{}"))
        );
        assert_ne!(s, signature("Jefe", 1_700_000_001, b"{}"));
        assert_ne!(s, signature("Jefe", 1_700_000_000, b"{ }"));
        assert_ne!(s, signature("jefe", 1_700_000_000, b"{}"));
    }

    #[test]
    fn retries_double_from_one_second_to_five_minutes_and_stop_after_eight() {
        let waits: Vec<_> = (1..=8).map(retry_after).collect();
        let secs: Vec<_> = waits.iter().flatten().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(waits[7], None);
    }

    #[test]
    fn event_filters_take_known_names_only() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse_events(&names(&[
                "pointer_moved",
                "version_created",
                "pointer_moved"
            ])),
            Ok(names(&["pointer_moved", "version_created"]))
        );
        assert_eq!(
            parse_events(&names(&["rollout_changed"])),
            Err("rollout_changed".to_owned())
        );
        assert!(wants(&[], "analysis_result"));
        assert!(!wants(&names(&["pointer_moved"]), "analysis_result"));
    }
}
