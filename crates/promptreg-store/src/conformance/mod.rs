//! One suite of stories every backend must pass, run by each backend crate's tests through
//! [`conformance_suite!`](crate::conformance_suite). SQLite runs it always, PostgreSQL when
//! `PROMPTREG_TEST_PG_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed story.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use promptreg_core::deploy::MoveRequest;
use promptreg_core::{
    EnvName, Metadata, ProjectId, PromptBody, PromptContent, PromptName, Version,
};
use serde_json::json;

use crate::*;

mod deploy;
mod misc;
mod versions;

pub use deploy::*;
pub use misc::*;
pub use versions::*;

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
            versions_are_numbered_and_idempotent,
            concurrent_writers_never_gap_or_duplicate,
            versions_page_newest_first_and_filter,
            prompts_list_with_prefix_tag_and_deployments,
            environments_are_unique,
            deploy_and_rollback_follow_the_live_stack,
            concurrent_deploys_never_duplicate_seq,
            tokens_are_created_listed_and_revoked,
            every_write_records_its_event,
            projects_are_isolated,
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

pub(crate) fn text_version(prompt: &str, template: &str, metadata: Metadata) -> NewVersion {
    NewVersion {
        name: name(prompt),
        content: PromptContent::new(
            PromptBody::Text(template.into()),
            Some(json!({"type": "object"})),
            Some(json!({"provider": "openai", "name": "gpt-4o", "params": {"temperature": 0.2}})),
        )
        .unwrap(),
        commit_message: Some(format!("write {template}")),
        metadata,
        created_by: "tester".into(),
        created_at: t0(),
    }
}

pub(crate) async fn push(store: &dyn Store, prompt: &str, template: &str) -> VersionRecord {
    store
        .create_version(
            &project(),
            text_version(prompt, template, Metadata::default()),
        )
        .await
        .unwrap()
        .value
        .version
}

pub(crate) async fn make_env(store: &dyn Store, e: &str) {
    store
        .create_environment(
            &project(),
            NewEnvironment {
                name: env(e),
                protected: e == "production",
                description: None,
                created_by: "admin".into(),
                created_at: t0(),
            },
        )
        .await
        .unwrap();
}

pub(crate) async fn mv(
    store: &dyn Store,
    e: &str,
    p: &str,
    request: MoveRequest,
) -> StoreResult<MoveOutcome> {
    store
        .move_pointer(
            &project(),
            PointerChange {
                env: env(e),
                name: name(p),
                request,
                actor: "deployer".into(),
                reason: Some("because".into()),
                at: t0(),
            },
        )
        .await
}

pub(crate) fn live(outcome: &MoveOutcome) -> Version {
    match outcome {
        MoveOutcome::Moved { record, .. } => record.to_version,
        MoveOutcome::Unchanged(record) => record.to_version,
    }
}
