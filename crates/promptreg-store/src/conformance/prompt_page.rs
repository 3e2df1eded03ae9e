//! Stories about the counted prompt list ([`Store::prompt_page`]): exact filters, byte order
//! of names, offsets past the end, and a total that counts every match whatever the page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::{DeployKind, Metadata};

use super::{env, make_env, move_to, name, other, project, publish, push};
use crate::*;

fn names(page: &PromptPage<StoredContent>) -> Vec<&str> {
    page.prompts.iter().map(|p| p.name.as_str()).collect()
}

async fn page(
    store: &dyn Store,
    query: &PromptQuery,
    offset: u64,
    limit: u32,
) -> PromptPage<StoredContent> {
    store
        .prompt_page(&project(), query, OffsetPage { offset, limit })
        .await
        .unwrap()
}

/// One page by offset, with the number of matches; filters by exact name, live environment
/// and the latest version's tag, alone and together.
pub async fn prompt_pages_count_filter_and_order(store: Arc<dyn Store>) {
    let hot = || Metadata {
        tags: vec!["hot".into()],
        ..Default::default()
    };
    for p in ["d", "b_z", "b/y", "a", "c"] {
        push(&*store, p, "one").await;
    }
    publish(&*store, &project(), "b/x", "one", hot()).await;
    // `c` was hot once; its latest version is not.
    publish(&*store, &project(), "c", "two", hot()).await;
    push(&*store, "c", "three").await;
    publish(&*store, &other(), "elsewhere", "one", hot()).await;
    make_env(&*store, &project(), "staging").await;
    make_env(&*store, &project(), "production").await;
    move_to(&*store, &project(), "staging", "b/y", 1, DeployKind::Deploy).await;
    move_to(&*store, &project(), "staging", "d", 1, DeployKind::Deploy).await;
    move_to(
        &*store,
        &project(),
        "production",
        "d",
        1,
        DeployKind::Deploy,
    )
    .await;

    let all = PromptQuery::default();
    let first = page(&*store, &all, 0, 2).await;
    // Bytes order names: '/' (0x2f) before '_' (0x5f).
    assert_eq!(names(&first), ["a", "b/x"]);
    assert_eq!(first.total, 6);
    let latest = store
        .latest_version(&project(), &name("b/x"))
        .await
        .unwrap();
    assert_eq!(first.prompts[1].latest, latest);
    assert!(first.prompts[1].deployed.is_empty());
    let middle = page(&*store, &all, 2, 3).await;
    assert_eq!(names(&middle), ["b/y", "b_z", "c"]);
    assert_eq!(middle.prompts[2].latest.version, super::v(3));
    let last = page(&*store, &all, 5, 3).await;
    assert_eq!(names(&last), ["d"]);
    assert_eq!(
        last.prompts[0].deployed,
        vec![
            (env("production"), super::v(1)),
            (env("staging"), super::v(1))
        ]
    );
    let past = page(&*store, &all, 50, 3).await;
    assert!(past.prompts.is_empty());
    assert_eq!(
        past.total, 6,
        "a page past the end still counts the matches"
    );

    let by_name = |n: &str| PromptQuery {
        name: Some(name(n)),
        ..Default::default()
    };
    let exact = page(&*store, &by_name("b/x"), 0, 10).await;
    assert_eq!((names(&exact), exact.total), (vec!["b/x"], 1));
    let prefix = page(&*store, &by_name("b"), 0, 10).await;
    assert_eq!(
        (prefix.prompts.len(), prefix.total),
        (0, 0),
        "names are exact"
    );

    let staging = PromptQuery {
        env: Some(env("staging")),
        ..Default::default()
    };
    let live = page(&*store, &staging, 0, 10).await;
    assert_eq!((names(&live), live.total), (vec!["b/y", "d"], 2));
    let second = page(&*store, &staging, 1, 1).await;
    assert_eq!((names(&second), second.total), (vec!["d"], 2));

    let tagged = PromptQuery {
        tag: Some("hot".into()),
        ..Default::default()
    };
    let hot_page = page(&*store, &tagged, 0, 10).await;
    assert_eq!((names(&hot_page), hot_page.total), (vec!["b/x"], 1));
    let none = PromptQuery {
        env: Some(env("staging")),
        ..tagged.clone()
    };
    let empty = page(&*store, &none, 0, 10).await;
    assert_eq!((empty.prompts.len(), empty.total), (0, 0));
    let unknown = PromptQuery {
        env: Some(env("nowhere")),
        ..Default::default()
    };
    assert_eq!(page(&*store, &unknown, 0, 10).await.total, 0);

    let theirs = store
        .prompt_page(
            &other(),
            &tagged,
            OffsetPage {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!((names(&theirs), theirs.total), (vec!["elsewhere"], 1));
}
