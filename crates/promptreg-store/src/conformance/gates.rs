//! Validation results, environment gates and the validated-prompts query.

use std::collections::BTreeMap;
use std::sync::Arc;

use promptreg_core::gates::{Gate, GateSpec};

use super::*;

fn result(
    prompt: &str,
    n: i64,
    digest: &promptreg_core::Digest,
    suite: &str,
    passed: bool,
) -> ValidationRecord {
    ValidationRecord {
        id: 0,
        name: name(prompt),
        version: v(n),
        digest: digest.clone(),
        suite: suite.into(),
        passed,
        metrics: BTreeMap::from([("accuracy".to_owned(), 0.875)]),
        details: Some(json!({"cases": [1, 2], "note": "ok"})),
        tool_name: "promptfoo".into(),
        tool_version: "0.90.1".into(),
        attached_by: "ci".into(),
        attached_at: at(500),
    }
}

async fn attach(store: &dyn Store, p: &ProjectId, r: &ValidationRecord) -> i64 {
    let mut tx = store.begin(p).await.unwrap();
    let id = tx.insert_validation(r).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn validated(rows: &[ValidatedPrompt]) -> Vec<(&str, i64, Option<i64>)> {
    rows.iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.version.get(),
                r.env_version.map(Version::get),
            )
        })
        .collect()
}

/// Results round trip in insertion order with increasing ids, inside and outside a unit of
/// work, per project; a dropped unit keeps none. Gates are set, replaced and read back. The
/// validated query takes each prompt's newest version whose newest result passed, and with
/// an environment leaves out what it serves.
pub async fn validations_gates_and_the_validated_query(store: Arc<dyn Store>) {
    make_env(&*store, &project(), "production").await;
    make_env(&*store, &project(), "staging").await;
    let mut digests = BTreeMap::new();
    for p in ["a", "b", "c"] {
        for t in ["one", "two"] {
            let version = push(&*store, p, &format!("{p}{t}")).await;
            digests.insert((p, version.version.get()), version.digest);
        }
    }
    let d = |p: &'static str, n: i64| digests[&(p, n)].clone();

    let first = attach(
        &*store,
        &project(),
        &result("a", 1, &d("a", 1), "evals", false),
    )
    .await;
    let second = attach(
        &*store,
        &project(),
        &result("a", 1, &d("a", 1), "evals", true),
    )
    .await;
    assert!(second > first);
    let read = store
        .list_validations(&project(), &name("a"), v(1))
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(
        read[0],
        ValidationRecord {
            id: first,
            ..result("a", 1, &d("a", 1), "evals", false)
        }
    );
    assert_eq!(read[1].id, second);
    // Inside a unit of work, too; a dropped one keeps nothing.
    let mut tx = store.begin(&project()).await.unwrap();
    tx.insert_validation(&result("a", 1, &d("a", 1), "dropped", true))
        .await
        .unwrap();
    assert_eq!(tx.validations(&name("a"), v(1)).await.unwrap().len(), 3);
    drop(tx);
    assert_eq!(
        store
            .list_validations(&project(), &name("a"), v(1))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(store
        .list_validations(&other(), &name("a"), v(1))
        .await
        .unwrap()
        .is_empty());

    // Gates: none, set, replaced.
    assert_eq!(
        store
            .environment_gates(&project(), &env("production"))
            .await
            .unwrap(),
        None
    );
    let mut gates = GatesRecord {
        env: env("production"),
        spec: GateSpec {
            required_predecessor: Some(env("staging")),
            min_time_in_predecessor: Some("1h".into()),
            gates: vec![Gate {
                name: "evals".into(),
                expression: "validations.evals.passed".into(),
            }],
        },
        updated_by: "admin".into(),
        updated_at: at(600),
    };
    let mut tx = store.begin(&project()).await.unwrap();
    tx.set_environment_gates(&gates).await.unwrap();
    assert_eq!(
        tx.environment_gates(&env("production"))
            .await
            .unwrap()
            .as_ref(),
        Some(&gates)
    );
    tx.commit().await.unwrap();
    gates.spec.gates.clear();
    gates.updated_at = at(700);
    let mut tx = store.begin(&project()).await.unwrap();
    tx.set_environment_gates(&gates).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .environment_gates(&project(), &env("production"))
            .await
            .unwrap(),
        Some(gates)
    );
    assert_eq!(
        store
            .environment_gates(&other(), &env("production"))
            .await
            .unwrap(),
        None
    );

    // a: v1 passes (newest), v2 passes -> v2. b: v2 passed then failed, v1 passed -> v1.
    // c: fails only.
    attach(
        &*store,
        &project(),
        &result("a", 2, &d("a", 2), "evals", true),
    )
    .await;
    attach(
        &*store,
        &project(),
        &result("b", 1, &d("b", 1), "evals", true),
    )
    .await;
    attach(
        &*store,
        &project(),
        &result("b", 2, &d("b", 2), "evals", true),
    )
    .await;
    attach(
        &*store,
        &project(),
        &result("b", 2, &d("b", 2), "evals", false),
    )
    .await;
    attach(
        &*store,
        &project(),
        &result("c", 2, &d("c", 2), "evals", false),
    )
    .await;
    attach(
        &*store,
        &project(),
        &result("c", 1, &d("c", 1), "other", true),
    )
    .await;
    move_to(
        &*store,
        &project(),
        "production",
        "a",
        2,
        DeployKind::Deploy,
    )
    .await;
    move_to(
        &*store,
        &project(),
        "production",
        "b",
        2,
        DeployKind::Deploy,
    )
    .await;
    let q = |env_name: Option<&str>| ValidatedQuery {
        suite: "evals".into(),
        env: env_name.map(env),
    };
    let all = store
        .validated_prompts(&project(), &q(None), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(validated(&all), [("a", 2, None), ("b", 1, None)]);
    assert_eq!(all[0].digest, d("a", 2));
    assert!(all[0].validation_id > second);
    let prod = store
        .validated_prompts(&project(), &q(Some("production")), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        validated(&prod),
        [("b", 1, Some(2))],
        "a's v2 is served already"
    );
    let staging = store
        .validated_prompts(&project(), &q(Some("staging")), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(validated(&staging), [("a", 2, None), ("b", 1, None)]);
    let after = PageRequest {
        limit: 10,
        after: Some(name("a")),
    };
    let page = store
        .validated_prompts(&project(), &q(None), &after)
        .await
        .unwrap();
    assert_eq!(validated(&page), [("b", 1, None)]);
    let limited = store
        .validated_prompts(&project(), &q(None), &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert!(store
        .validated_prompts(&other(), &q(None), &PageRequest::first(10))
        .await
        .unwrap()
        .is_empty());
}
