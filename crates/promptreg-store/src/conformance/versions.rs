//! Stories about versions and prompt lists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::deploy::MoveRequest;
use promptreg_core::{ChangeEvent, Metadata, Version};

use super::{env, make_env, mv, name, project, push, t0, text_version, v};
use crate::*;

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
