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
    ChangeEvent, DeployKind, EnvName, Metadata, ProjectId, PromptBody, PromptContent, PromptName,
    Role, Version,
};
use serde_json::json;

use crate::*;

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

fn project() -> ProjectId {
    ProjectId::default()
}

fn name(s: &str) -> PromptName {
    PromptName::parse(s).unwrap()
}

fn env(s: &str) -> EnvName {
    EnvName::parse(s).unwrap()
}

fn v(n: i64) -> Version {
    Version::new(n).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

fn text_version(prompt: &str, template: &str, metadata: Metadata) -> NewVersion {
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

async fn push(store: &dyn Store, prompt: &str, template: &str) -> VersionRecord {
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

async fn make_env(store: &dyn Store, e: &str) {
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

async fn mv(store: &dyn Store, e: &str, p: &str, request: MoveRequest) -> StoreResult<MoveOutcome> {
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

fn live(outcome: &MoveOutcome) -> Version {
    match outcome {
        MoveOutcome::Moved { record, .. } => record.to_version,
        MoveOutcome::Unchanged(record) => record.to_version,
    }
}

/// Versions start at 1, count up, keep their content, and identical content creates nothing.
pub async fn versions_are_numbered_and_idempotent(store: Arc<dyn Store>) {
    let meta = Metadata {
        rationale: Some("why".into()),
        tags: vec!["a".into()],
        ..Default::default()
    };
    let first = store
        .create_version(
            &project(),
            text_version("support/triage", "Hi {{ name }}", meta.clone()),
        )
        .await
        .unwrap();
    assert!(first.value.created);
    assert!(matches!(
        first.event,
        Some(ChangeEvent::VersionCreated { .. })
    ));
    let v1 = first.value.version;
    assert_eq!(v1.version, v(1));
    assert_eq!(v1.parent, None);
    assert_eq!(v1.digest, v1.content.digest());
    assert_eq!(v1.metadata, meta);
    assert_eq!(v1.created_at, t0());

    let again = store
        .create_version(
            &project(),
            text_version("support/triage", "Hi {{ name }}", Metadata::default()),
        )
        .await
        .unwrap();
    assert!(
        !again.value.created,
        "same content must not create a version"
    );
    assert!(again.event.is_none());
    assert_eq!(again.value.version, v1);

    let v2 = push(&*store, "support/triage", "Hello {{ name }}").await;
    assert_eq!((v2.version, v2.parent), (v(2), Some(v(1))));
    // Going back to earlier content is a new version: only the latest is compared.
    let v3 = push(&*store, "support/triage", "Hi {{ name }}").await;
    assert_eq!(v3.version, v(3));
    assert_eq!(v3.digest, v1.digest);

    assert_eq!(
        store
            .get_version(&project(), &name("support/triage"), v(2))
            .await
            .unwrap(),
        v2
    );
    assert_eq!(
        store
            .latest_version(&project(), &name("support/triage"))
            .await
            .unwrap(),
        v3
    );
    assert!(matches!(
        store
            .get_version(&project(), &name("support/triage"), v(9))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.latest_version(&project(), &name("nope")).await,
        Err(StoreError::NotFound(_))
    ));
}

/// 16 writers pushing distinct content to one prompt at once get 1..=N with no gap or duplicate.
pub async fn concurrent_writers_never_gap_or_duplicate(store: Arc<dyn Store>) {
    const WRITERS: usize = 16;
    const EACH: usize = 5;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..EACH {
                let rec = push(&*store, "race/one", &format!("writer {w} item {i}")).await;
                got.push((rec.version, rec.digest));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let mut numbers: Vec<i64> = all.iter().map(|(v, _)| v.get()).collect();
    numbers.sort_unstable();
    let expected: Vec<i64> = (1..=(WRITERS * EACH) as i64).collect();
    assert_eq!(numbers, expected, "version numbers must be exactly 1..=N");
    for (version, digest) in &all {
        let stored = store
            .get_version(&project(), &name("race/one"), *version)
            .await
            .unwrap();
        assert_eq!(&stored.digest, digest);
        assert_eq!(stored.parent, Version::new(version.get() - 1).ok());
    }
}

/// Version lists are newest first, paged by keyset, filtered by tag and agent type.
pub async fn versions_page_newest_first_and_filter(store: Arc<dyn Store>) {
    for i in 1..=5 {
        let mut meta = Metadata::default();
        if i % 2 == 0 {
            meta.tags = vec!["even".into()];
            meta.compat.agent_types = vec!["triage".into()];
        }
        store
            .create_version(&project(), text_version("p", &format!("v{i}"), meta))
            .await
            .unwrap();
    }
    let p = name("p");
    let all = VersionFilter::default();
    let page1 = store
        .list_versions(&project(), &p, &all, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(
        page1.iter().map(|r| r.version.get()).collect::<Vec<_>>(),
        [5, 4]
    );
    let page2 = store
        .list_versions(
            &project(),
            &p,
            &all,
            &PageRequest {
                limit: 2,
                after: Some(v(4)),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|r| r.version.get()).collect::<Vec<_>>(),
        [3, 2]
    );
    let tagged = VersionFilter {
        tag: Some("even".into()),
        agent_type: None,
    };
    let even = store
        .list_versions(&project(), &p, &tagged, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        even.iter().map(|r| r.version.get()).collect::<Vec<_>>(),
        [4, 2]
    );
    // No agent types listed means "any agent", so odd versions serve `billing` too.
    let billing = VersionFilter {
        tag: None,
        agent_type: Some("billing".into()),
    };
    let b = store
        .list_versions(&project(), &p, &billing, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        b.iter().map(|r| r.version.get()).collect::<Vec<_>>(),
        [5, 3, 1]
    );
    let triage = VersionFilter {
        tag: None,
        agent_type: Some("triage".into()),
    };
    let t = store
        .list_versions(&project(), &p, &triage, &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(t[0].version, v(5), "latest compatible version for triage");
    assert!(store
        .list_versions(&project(), &name("none"), &all, &PageRequest::first(5))
        .await
        .unwrap()
        .is_empty());
}

/// Prompts list by name with prefix and tag filters and their live environments.
pub async fn prompts_list_with_prefix_tag_and_deployments(store: Arc<dyn Store>) {
    for p in [
        "support/triage",
        "support/refund",
        "sales/pitch",
        "support_x",
    ] {
        push(&*store, p, "x").await;
    }
    let tagged = Metadata {
        tags: vec!["hot".into()],
        ..Default::default()
    };
    store
        .create_version(&project(), text_version("sales/pitch", "y", tagged))
        .await
        .unwrap();
    make_env(&*store, "staging").await;
    mv(
        &*store,
        "staging",
        "support/triage",
        MoveRequest::Deploy(v(1)),
    )
    .await
    .unwrap();

    let support = PromptFilter {
        prefix: Some("support/".into()),
        tag: None,
    };
    let list = store
        .list_prompts(&project(), &support, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["support/refund", "support/triage"]
    );
    assert_eq!(list[1].deployed, vec![(env("staging"), v(1))]);
    assert!(list[0].deployed.is_empty());

    let hot = PromptFilter {
        prefix: None,
        tag: Some("hot".into()),
    };
    let list = store
        .list_prompts(&project(), &hot, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].latest.version, v(2));

    let all = PromptFilter::default();
    let page1 = store
        .list_prompts(&project(), &all, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(
        page1.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["sales/pitch", "support/refund"]
    );
    let page2 = store
        .list_prompts(
            &project(),
            &all,
            &PageRequest {
                limit: 5,
                after: Some(name("support/refund")),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["support/triage", "support_x"]
    );
    // A prefix is literal: `_` and `%` are not wildcards.
    let lit = PromptFilter {
        prefix: Some("support_".into()),
        tag: None,
    };
    assert_eq!(
        store
            .list_prompts(&project(), &lit, &PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Environments are created once and listed by name.
pub async fn environments_are_unique(store: Arc<dyn Store>) {
    make_env(&*store, "staging").await;
    make_env(&*store, "production").await;
    let dup = store
        .create_environment(
            &project(),
            NewEnvironment {
                name: env("staging"),
                protected: false,
                description: None,
                created_by: "x".into(),
                created_at: t0(),
            },
        )
        .await;
    assert!(
        matches!(
            dup,
            Err(StoreError::Conflict {
                code: "already_exists",
                ..
            })
        ),
        "{dup:?}"
    );
    let list = store.list_environments(&project()).await.unwrap();
    assert_eq!(
        list.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["production", "staging"]
    );
    assert!(list[0].protected);
    assert_eq!(
        store
            .get_environment(&project(), &env("staging"))
            .await
            .unwrap()
            .created_by,
        "admin"
    );
    assert!(matches!(
        store.get_environment(&project(), &env("nope")).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Deploys push, rollbacks walk back, every move is a record, nothing is erased.
pub async fn deploy_and_rollback_follow_the_live_stack(store: Arc<dyn Store>) {
    for i in 1..=3 {
        push(&*store, "p", &format!("v{i}")).await;
    }
    make_env(&*store, "production").await;
    assert!(matches!(
        mv(&*store, "nope", "p", MoveRequest::Deploy(v(1))).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        mv(&*store, "production", "p", MoveRequest::Deploy(v(7))).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        mv(&*store, "production", "q", MoveRequest::Deploy(v(1))).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        mv(&*store, "production", "p", MoveRequest::Rollback(None)).await,
        Err(StoreError::Conflict {
            code: "nothing_to_roll_back",
            ..
        })
    ));
    assert_eq!(
        store
            .deployed_version(&project(), &env("production"), &name("p"))
            .await
            .unwrap(),
        None
    );

    for i in 1..=3 {
        let out = mv(&*store, "production", "p", MoveRequest::Deploy(v(i)))
            .await
            .unwrap();
        let MoveOutcome::Moved {
            record,
            version,
            event,
        } = out
        else {
            panic!("moved expected")
        };
        assert_eq!(
            (record.seq, record.to_version, record.kind),
            (i, v(i), DeployKind::Deploy)
        );
        assert_eq!(record.from_version, Version::new(i - 1).ok());
        assert_eq!(version.version, v(i));
        assert_eq!(record.digest, version.digest);
        assert!(matches!(event, ChangeEvent::PointerMoved { seq, .. } if seq == i));
    }
    let same = mv(&*store, "production", "p", MoveRequest::Deploy(v(3)))
        .await
        .unwrap();
    assert!(matches!(same, MoveOutcome::Unchanged(ref r) if r.seq == 3));

    let back = mv(&*store, "production", "p", MoveRequest::Rollback(None))
        .await
        .unwrap();
    assert_eq!(live(&back), v(2));
    assert!(matches!(
        mv(
            &*store,
            "production",
            "p",
            MoveRequest::Rollback(Some(v(3)))
        )
        .await,
        Err(StoreError::Conflict {
            code: "not_an_earlier_version",
            ..
        })
    ));
    assert_eq!(
        live(
            &mv(&*store, "production", "p", MoveRequest::Rollback(None))
                .await
                .unwrap()
        ),
        v(1)
    );
    assert!(matches!(
        mv(&*store, "production", "p", MoveRequest::Rollback(None)).await,
        Err(StoreError::Conflict {
            code: "nothing_to_roll_back",
            ..
        })
    ));
    let live_now = store
        .deployed_version(&project(), &env("production"), &name("p"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live_now.version, v(1));

    let history = store
        .history(
            &project(),
            &env("production"),
            &name("p"),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|r| {
            (
                r.seq,
                r.kind,
                r.from_version.map(Version::get),
                r.to_version.get(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (5, DeployKind::Rollback, Some(2), 1),
            (4, DeployKind::Rollback, Some(3), 2),
            (3, DeployKind::Deploy, Some(2), 3),
            (2, DeployKind::Deploy, Some(1), 2),
            (1, DeployKind::Deploy, None, 1),
        ]
    );
    assert_eq!(history[0].actor, "deployer");
    assert_eq!(history[0].reason.as_deref(), Some("because"));
    let older = store
        .history(
            &project(),
            &env("production"),
            &name("p"),
            &PageRequest {
                limit: 2,
                after: Some(3),
            },
        )
        .await
        .unwrap();
    assert_eq!(older.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 1]);

    let catalog = store
        .catalog(&project(), &env("production"), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(catalog.len(), 1);
    assert_eq!((catalog[0].name.as_str(), catalog[0].version), ("p", v(1)));
    let deployed = store.load_deployed().await.unwrap();
    assert_eq!(deployed.len(), 1);
    assert_eq!(
        (deployed[0].env.as_str(), deployed[0].version.version),
        ("production", v(1))
    );
}

/// 16 deployers racing on one pointer produce consecutive seqs and a consistent chain.
pub async fn concurrent_deploys_never_duplicate_seq(store: Arc<dyn Store>) {
    for i in 1..=4 {
        push(&*store, "p", &format!("v{i}")).await;
    }
    make_env(&*store, "production").await;
    let mut tasks = Vec::new();
    for w in 0..16i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..4i64 {
                mv(
                    &*store,
                    "production",
                    "p",
                    MoveRequest::Deploy(v((w + i) % 4 + 1)),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let history = store
        .history(
            &project(),
            &env("production"),
            &name("p"),
            &PageRequest::first(500),
        )
        .await
        .unwrap();
    let n = history.len() as i64;
    assert!(n >= 1);
    let seqs: Vec<i64> = history.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=n).rev().collect::<Vec<_>>());
    // Each record starts where the previous one ended.
    for pair in history.windows(2) {
        assert_eq!(pair[0].from_version, Some(pair[1].to_version));
        assert_ne!(pair[0].from_version, Some(pair[0].to_version));
    }
}

/// Tokens are stored by hash, listed, found and revoked once.
pub async fn tokens_are_created_listed_and_revoked(store: Arc<dyn Store>) {
    let token = |id: &str, kind| TokenRecord {
        id: id.into(),
        project: project(),
        name: format!("{id} token"),
        role: Role::Author,
        kind,
        public_key: (kind == TokenKind::KeyPair).then(|| format!("pk-{id}")),
        secret_hash: format!("{id:0>64}"),
        created_by: "admin".into(),
        created_at: t0(),
        revoked_at: None,
    };
    let created = store
        .create_token(token("tok1", TokenKind::Bearer))
        .await
        .unwrap();
    assert!(matches!(
        created.event,
        Some(ChangeEvent::TokenCreated { .. })
    ));
    store
        .create_token(token("tok2", TokenKind::KeyPair))
        .await
        .unwrap();
    assert!(matches!(
        store.create_token(token("tok1", TokenKind::Bearer)).await,
        Err(StoreError::Conflict { .. })
    ));
    let list = store.list_tokens(&project()).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        store.get_token("tok2").await.unwrap(),
        token("tok2", TokenKind::KeyPair)
    );
    let revoked = store.revoke_token(&project(), "tok1", t0()).await.unwrap();
    assert_eq!(revoked.value.revoked_at, Some(t0()));
    assert!(matches!(
        store.revoke_token(&project(), "tok1", t0()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .revoke_token(&ProjectId::parse("other").unwrap(), "tok2", t0())
            .await,
        Err(StoreError::NotFound(_))
    ));
    let active = store.load_tokens().await.unwrap();
    assert_eq!(
        active.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["tok2"]
    );
    assert_eq!(store.list_tokens(&project()).await.unwrap().len(), 1);
    assert!(store.get_token("tok1").await.unwrap().revoked_at.is_some());
}

/// Every state change leaves its event in the log, in commit order.
pub async fn every_write_records_its_event(store: Arc<dyn Store>) {
    push(&*store, "p", "one").await;
    push(&*store, "p", "one").await; // unchanged: no event
    make_env(&*store, "staging").await;
    mv(&*store, "staging", "p", MoveRequest::Deploy(v(1)))
        .await
        .unwrap();
    mv(&*store, "staging", "p", MoveRequest::Deploy(v(1)))
        .await
        .unwrap(); // unchanged
    let events = store.events_after(0, 100).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|(_, e)| e.kind()).collect();
    assert_eq!(
        kinds,
        ["version_created", "environment_created", "pointer_moved"]
    );
    assert!(
        events.windows(2).all(|w| w[0].0 < w[1].0),
        "event ids increase"
    );
    let after_first = store.events_after(events[0].0, 100).await.unwrap();
    assert_eq!(after_first.len(), 2);
}

/// Projects share nothing: names, versions, environments and pointers are per project.
pub async fn projects_are_isolated(store: Arc<dyn Store>) {
    let other = ProjectId::parse("other").unwrap();
    push(&*store, "p", "default one").await;
    let mut nv = text_version("p", "other one", Metadata::default());
    nv.created_by = "b".into();
    let b1 = store
        .create_version(&other, nv)
        .await
        .unwrap()
        .value
        .version;
    assert_eq!(b1.version, v(1), "numbering is per project");
    assert_eq!(
        store
            .latest_version(&project(), &name("p"))
            .await
            .unwrap()
            .version,
        v(1)
    );
    make_env(&*store, "production").await;
    assert!(matches!(
        store.get_environment(&other, &env("production")).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .create_environment(
            &other,
            NewEnvironment {
                name: env("production"),
                protected: false,
                description: None,
                created_by: "b".into(),
                created_at: t0(),
            },
        )
        .await
        .unwrap();
    store
        .move_pointer(
            &other,
            PointerChange {
                env: env("production"),
                name: name("p"),
                request: MoveRequest::Deploy(v(1)),
                actor: "b".into(),
                reason: None,
                at: t0(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .deployed_version(&project(), &env("production"), &name("p"))
            .await
            .unwrap(),
        None
    );
    let live = store
        .deployed_version(&other, &env("production"), &name("p"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.digest, b1.digest);
    let all = store.load_deployed().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].project, other);
    assert_eq!(
        store
            .list_prompts(&other, &PromptFilter::default(), &PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );
}
