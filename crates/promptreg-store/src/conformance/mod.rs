//! One suite of stories every backend must pass, run by each backend crate's tests through
//! [`conformance_suite!`](crate::conformance_suite). SQLite runs it always, PostgreSQL when
//! `PROMPTREG_TEST_PG_URL` is set.
//!
//! The stories test the store's steps (what each [`StoreTx`] step writes, what the reads give
//! back, that a unit of work commits whole or not at all, that `begin` makes writers of a
//! project take turns), not workflows: numbering, deploy rules and events are the service
//! layer's, so the helpers here play that part as simply as possible.
//!
//! - `versions`: versions and prompt lists, dropped transactions.
//! - `prompt_page`: the counted prompt list (page by offset, total, exact filters).
//! - `deploy`: environments, deployment records and pointers.
//! - `misc`: tokens, the event log, concurrent writers, project isolation.
//! - `outcomes`: outcome windows per replica and accepted ids.
//! - `webhooks`: subscriptions, their lease, cursor and delivery history.
//! - `keys`: signing keys, and records' signatures and ledger positions.
//! - `sealing`: sealed and plaintext content, the walk over every version, rewrapping.
//! - `import`: the import steps (counting, clearing, replaying a log verbatim).
//! - `retention`: lifecycle rules, what the rules read, and the prune's tombstone.
//! - `gates`: validation results, environment gates and the validated-prompts query.
//! - `changes`: change requests, their reviews (one per reviewer), filters and expiry,
//!   environment settings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed story.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use promptreg_core::integrity::seal::SealedContent;
use promptreg_core::{
    ChangeEvent, DeployKind, EnvName, EventDraft, EventRecord, Metadata, ProjectId, PromptBody,
    PromptContent, PromptName, Version,
};
use serde_json::json;

use crate::*;

mod changes;
mod deploy;
mod gates;
mod import;
mod keys;
mod misc;
mod outcomes;
mod projects;
mod prompt_page;
mod retention;
mod sealing;
mod versions;
mod webhooks;

pub use changes::*;
pub use deploy::*;
pub use gates::*;
pub use import::*;
pub use keys::*;
pub use misc::*;
pub use outcomes::*;
pub use projects::*;
pub use prompt_page::*;
pub use retention::*;
pub use sealing::*;
pub use versions::*;
pub use webhooks::*;

/// A fresh, empty store and what to do with it afterwards (drop a schema, delete a file).
pub struct Harness {
    /// The store under test.
    pub store: Arc<dyn Store>,
    /// Runs after the story, pass or fail.
    pub cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// Runs one story against a fresh store, cleaning up even when the story panics.
pub async fn run_story<S, F>(harness: Harness, story: S)
where
    S: FnOnce(Arc<dyn Store>) -> F,
    F: Future<Output = ()>,
{
    use futures::FutureExt;
    let outcome = std::panic::AssertUnwindSafe(story(harness.store.clone()))
        .catch_unwind()
        .await;
    drop(harness.store);
    if let Some(cleanup) = harness.cleanup {
        cleanup.await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Declares one `#[tokio::test]` per story for a backend; `$make` is an async fn returning
/// `Option<Harness>` (`None` skips, e.g. PostgreSQL without a URL).
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make;
            versions_round_trip_through_a_tx,
            publish_if_latest_writes_only_while_the_plan_holds,
            a_dropped_tx_leaves_nothing,
            versions_page_newest_first_and_filter,
            prompts_list_with_prefix_tag_and_deployments,
            prompt_pages_count_filter_and_order,
            environments_are_unique,
            deployments_record_history_and_move_the_pointer,
            tokens_are_inserted_found_and_revoked,
            the_event_log_is_dense_and_round_trips,
            concurrent_writers_take_turns,
            projects_are_isolated,
            outcome_windows_are_replaced_per_replica,
            outcome_ids_round_trip_and_expire,
            webhooks_lease_deliver_and_delete,
            signing_keys_rotate_and_records_keep_signatures,
            sealed_and_plaintext_versions_round_trip_and_reseal,
            an_import_replays_a_log_verbatim,
            retention_reads_rules_and_prunes_to_a_tombstone,
            validations_gates_and_the_validated_query,
            change_requests_round_trip_with_reviews_and_filters,
            projects_and_token_grants_round_trip,
        );
    };
    (@tests $make:path; $($story:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $story() {
                match $make().await {
                    Some(h) => $crate::conformance::run_story(h, $crate::conformance::$story).await,
                    None => eprintln!("SKIPPED {}: backend not configured", stringify!($story)),
                }
            }
        )*
    };
}

pub(crate) fn project() -> ProjectId {
    ProjectId::default()
}

pub(crate) fn other() -> ProjectId {
    ProjectId::parse("other").unwrap()
}

pub(crate) fn name(s: &str) -> PromptName {
    PromptName::parse(s).unwrap()
}

pub(crate) fn env(s: &str) -> EnvName {
    EnvName::parse(s).unwrap()
}

pub(crate) fn v(n: i64) -> Version {
    Version::new(n).unwrap()
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

/// `t0` plus `s` seconds and a few microseconds (the precision both backends keep).
pub(crate) fn at(s: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(s) + chrono::Duration::microseconds(123_456)
}

/// Plaintext content with `template`.
pub(crate) fn content(template: &str) -> PromptContent {
    PromptContent::new(
        PromptBody::Text(template.into()),
        Some(json!({"type": "object"})),
        Some(json!({"provider": "openai", "name": "gpt-4o", "params": {"temperature": 0.2}})),
    )
    .unwrap()
}

/// A sealing as the server would write it; opaque to the store, so any bytes do (the
/// "ciphertext" here is the template with every byte flipped).
pub(crate) fn sealing(template: &str, kek: &str, n: u8) -> SealedContent {
    SealedContent {
        alg: "aes-256-gcm".into(),
        kek_id: kek.into(),
        wrapped_key: vec![n; 60],
        nonce: vec![n ^ 0xff; 12],
        ciphertext: template.bytes().map(|b| !b).collect(),
    }
}

/// Version `n` of `prompt` (its parent is `n - 1`), as the service layer would build it:
/// sealed by KEK `k1`.
pub(crate) fn record(prompt: &str, n: i64, template: &str, metadata: Metadata) -> StoredVersion {
    let plain = content(template);
    VersionRecord {
        name: name(prompt),
        version: v(n),
        digest: plain.digest(),
        content: StoredContent::Sealed {
            prompt_type: plain.prompt_type(),
            sealed: sealing(template, "k1", u8::try_from(n % 200).unwrap()),
        },
        commit_message: Some(format!("write {template}")),
        metadata,
        parent: Version::new(n - 1).ok(),
        created_by: "tester".into(),
        created_at: at(n),
        // Opaque to the store: kept and returned byte for byte.
        signature: Some(format!(r#"{{"payload":"v{n}","signatures":[]}}"#)),
        ledger_seq: None,
    }
}

/// An event draft by a fixed actor.
pub(crate) fn draft(change: ChangeEvent) -> EventDraft {
    EventDraft {
        at: at(0),
        actor: "tok1:ci".into(),
        reason: None,
        request_id: None,
        policies: None,
        change,
    }
}

/// A publish as the service layer runs it: the next number after the latest, the version and
/// its event in one unit of work.
pub(crate) async fn publish(
    store: &dyn Store,
    p: &ProjectId,
    prompt: &str,
    template: &str,
    metadata: Metadata,
) -> (StoredVersion, EventRecord) {
    let mut tx = store.begin(p).await.unwrap();
    let latest = tx.latest_version(&name(prompt)).await.unwrap();
    let n = latest.map_or(1, |l| l.version.get() + 1);
    let mut version = record(prompt, n, template, metadata);
    tx.insert_version(&version).await.unwrap();
    let event = tx
        .append_event(draft(ChangeEvent::VersionCreated {
            project: p.clone(),
            name: version.name.clone(),
            version: version.version,
            digest: version.digest.clone(),
            signature: None,
        }))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // The store numbers the record with the event appended next in the transaction.
    version.ledger_seq = Some(event.seq);
    (version, event)
}

/// [`publish`] in the default project with no metadata.
pub(crate) async fn push(store: &dyn Store, prompt: &str, template: &str) -> StoredVersion {
    publish(store, &project(), prompt, template, Metadata::default())
        .await
        .0
}

/// An environment (`production` protected).
pub(crate) fn environment(e: &str) -> Environment {
    Environment {
        name: env(e),
        protected: e == "production",
        description: Some(format!("the {e} environment")),
        created_by: "admin".into(),
        created_at: at(0),
        approvals_required: 1,
    }
}

/// Creates an environment and logs it, in one unit of work.
pub(crate) async fn make_env(store: &dyn Store, p: &ProjectId, e: &str) {
    let mut tx = store.begin(p).await.unwrap();
    tx.insert_environment(&environment(e)).await.unwrap();
    tx.append_event(draft(ChangeEvent::EnvironmentCreated {
        project: p.clone(),
        env: env(e),
    }))
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Records a move of a pointer to `to` after its history, as the service layer would once it
/// has planned it: the record, the pointer and the event in one unit of work.
pub(crate) async fn move_to(
    store: &dyn Store,
    p: &ProjectId,
    e: &str,
    prompt: &str,
    to: i64,
    kind: DeployKind,
) -> DeploymentRecord {
    let mut tx = store.begin(p).await.unwrap();
    let last = tx
        .pointer_history(&env(e), &name(prompt))
        .await
        .unwrap()
        .pop();
    let version = tx.get_version(&name(prompt), v(to)).await.unwrap().unwrap();
    let seq = last.as_ref().map_or(1, |r| r.seq + 1);
    let record = DeploymentRecord {
        env: env(e),
        name: name(prompt),
        seq,
        from_version: last.map(|r| r.to_version),
        to_version: version.version,
        digest: version.digest,
        actor: "deployer".into(),
        reason: Some(format!("move {seq}")),
        at: at(100 + seq),
        kind,
        signature: (seq % 2 == 1).then(|| format!(r#"{{"payload":"move {seq}"}}"#)),
        ledger_seq: None,
        // Every other move into production says under which authority it was made.
        approval: (e == "production" && seq % 2 == 0).then(|| {
            promptreg_core::change::Approval::ChangeRequest {
                id: format!("cr-{seq}"),
            }
        }),
    };
    tx.insert_deployment(&record).await.unwrap();
    let event = tx.append_event(draft(record.event(p))).await.unwrap();
    tx.commit().await.unwrap();
    DeploymentRecord {
        ledger_seq: Some(event.seq),
        ..record
    }
}
