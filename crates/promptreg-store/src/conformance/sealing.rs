//! Stories about sealed content: what the store keeps of it, the walk a KEK rotation makes
//! over every version, and rewrapping that never touches a ciphertext.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::Metadata;

use super::{content, name, other, project, record, sealing, v};
use crate::*;
use promptreg_core::integrity::seal::SealedContent;

async fn insert(store: &dyn Store, p: &ProjectId, version: &StoredVersion) {
    let mut tx = store.begin(p).await.unwrap();
    tx.insert_version(version).await.unwrap();
    tx.commit().await.unwrap();
}

fn reseal(p: &ProjectId, prompt: &str, n: i64, from: Option<&str>, s: SealedContent) -> Reseal {
    Reseal {
        project: p.clone(),
        name: name(prompt),
        version: v(n),
        from_kek: from.map(str::to_owned),
        sealed: s,
    }
}

/// Sealed rows come back byte for byte and plaintext rows (written before encryption at
/// rest) still read; `all_versions` walks every project in key order; `reseal` rewraps only
/// rows still wrapped by the old KEK and seals only rows still in plaintext.
pub async fn sealed_and_plaintext_versions_round_trip_and_reseal(store: Arc<dyn Store>) {
    let plain = VersionRecord {
        content: StoredContent::Plain(content("Legacy {{ x }}")),
        digest: content("Legacy {{ x }}").digest(),
        ..record("b", 1, "unused", Metadata::default())
    };
    let sealed = record("b", 2, "Sealed {{ x }}", Metadata::default());
    let elsewhere = record("a", 1, "Other project", Metadata::default());
    insert(&*store, &project(), &plain).await;
    insert(&*store, &project(), &sealed).await;
    insert(&*store, &other(), &elsewhere).await;
    let read = |p: ProjectId, prompt: &'static str, n: i64| {
        let store = store.clone();
        async move { store.get_version(&p, &name(prompt), v(n)).await.unwrap() }
    };
    assert_eq!(read(project(), "b", 1).await.content, plain.content);
    assert_eq!(read(project(), "b", 2).await.content, sealed.content);
    assert_eq!(
        read(project(), "b", 2).await.content.prompt_type(),
        promptreg_core::PromptType::Text
    );

    // The walk: (project, prompt, version) order, across projects, in pages.
    let first = store.all_versions(None, 2).await.unwrap();
    let keys = |page: &[(ProjectId, StoredVersion)]| {
        page.iter()
            .map(|(p, r)| (p.to_string(), r.name.to_string(), r.version.get()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&first),
        [
            ("default".into(), "b".into(), 1),
            ("default".into(), "b".into(), 2)
        ]
    );
    assert_eq!(first[1].1.content, sealed.content);
    let (p, r) = &first[1];
    let after = (p.clone(), r.name.clone(), r.version);
    let rest = store.all_versions(Some(&after), 2).await.unwrap();
    assert_eq!(keys(&rest), [("other".into(), "a".into(), 1)]);
    let last = (other(), name("a"), v(1));
    assert!(store.all_versions(Some(&last), 2).await.unwrap().is_empty());

    // A rewrap changes the wrapped key and KEK id only.
    let StoredContent::Sealed { sealed: was, .. } = &sealed.content else {
        unreachable!()
    };
    let rewrapped = SealedContent {
        kek_id: "k2".into(),
        wrapped_key: vec![42; 60],
        ..was.clone()
    };
    // A stale one (the row is not wrapped by `k0`) and a sealing of a row that is not
    // plaintext change nothing.
    let stale = [
        reseal(&project(), "b", 2, Some("k0"), sealing("x", "k2", 1)),
        reseal(&project(), "b", 2, None, sealing("x", "k2", 1)),
        reseal(&project(), "zz", 1, Some("k1"), sealing("x", "k2", 1)),
    ];
    assert_eq!(store.reseal(&stale).await.unwrap(), 0);
    assert_eq!(read(project(), "b", 2).await.content, sealed.content);
    let batch = [
        reseal(&project(), "b", 2, Some("k1"), rewrapped.clone()),
        reseal(&project(), "b", 1, None, sealing("Legacy {{ x }}", "k2", 7)),
    ];
    assert_eq!(store.reseal(&batch).await.unwrap(), 2);
    let StoredContent::Sealed { sealed: now, .. } = read(project(), "b", 2).await.content else {
        panic!("still sealed")
    };
    assert_eq!(now, rewrapped);
    assert_eq!(now.ciphertext, was.ciphertext);
    assert_eq!(
        read(project(), "b", 1).await.content,
        StoredContent::Sealed {
            prompt_type: promptreg_core::PromptType::Text,
            sealed: sealing("Legacy {{ x }}", "k2", 7),
        }
    );
    // Nothing else moved: the other project's row and everything but the content.
    assert_eq!(read(other(), "a", 1).await.content, elsewhere.content);
    let b1 = read(project(), "b", 1).await;
    assert_eq!((b1.digest, b1.signature), (plain.digest, plain.signature));
    // Again: nothing left to do.
    assert_eq!(store.reseal(&batch).await.unwrap(), 0);
}
