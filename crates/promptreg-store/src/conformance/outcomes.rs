//! Stories about outcome windows and accepted ids: each replica's rows are replaced whole,
//! readers see every replica's rows, reads filter by key and time, id batches round-trip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use promptreg_core::analysis::{ArmWindow, Observation};

use super::{at, env, name, other, project, v};
use crate::*;

fn window(samples: u64, violations: u64, latency: f64) -> ArmWindow {
    let mut w = ArmWindow::default();
    for i in 0..samples {
        w.record(&Observation {
            success: Some(i % 2 == 0),
            policy_violation: i < violations,
            latency_ms: Some(latency),
            ..Default::default()
        });
    }
    w
}

fn version_row(replica: &str, minute: i64, w: ArmWindow) -> VersionWindowRow {
    VersionWindowRow {
        project: project(),
        env: env("production"),
        name: name("greet"),
        version: v(2),
        minute: at(minute * 60),
        replica: replica.into(),
        window: w,
    }
}

fn rollout_row(replica: &str, step: u32, arm: &str, w: ArmWindow) -> RolloutWindowRow {
    RolloutWindowRow {
        project: project(),
        rollout: "r1".into(),
        step,
        arm: arm.into(),
        replica: replica.into(),
        window: w,
    }
}

/// A replica's windows are upserted (the second write replaces the first), other replicas'
/// rows stay beside them, and reads filter by version, time and rollout.
pub async fn outcome_windows_are_replaced_per_replica(store: Arc<dyn Store>) {
    store
        .save_outcome_windows(
            &[
                version_row("a", 0, window(3, 0, 10.0)),
                version_row("a", 1, window(1, 0, 5.0)),
            ],
            &[rollout_row("a", 0, "stable", window(2, 0, 1.0))],
        )
        .await
        .unwrap();
    // Replica a's next flush replaces its rows; replica b writes its own.
    store
        .save_outcome_windows(
            &[
                version_row("a", 0, window(5, 1, 10.0)),
                version_row("b", 0, window(2, 0, 20.0)),
            ],
            &[
                rollout_row("a", 0, "stable", window(4, 0, 1.0)),
                rollout_row("b", 1, "candidate", window(3, 2, 2.0)),
            ],
        )
        .await
        .unwrap();

    let rows = store
        .version_windows(&project(), &env("production"), &name("greet"), v(2), at(0))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let a0 = rows
        .iter()
        .find(|r| r.replica == "a" && r.minute == at(0))
        .unwrap();
    assert_eq!(
        a0.window,
        window(5, 1, 10.0),
        "the second flush replaced the first"
    );
    let b0 = rows.iter().find(|r| r.replica == "b").unwrap();
    assert_eq!(b0.window.samples, 2);
    assert_eq!(
        b0.window.latency_ms.quantile(0.5).map(|q| q.round()),
        Some(20.0)
    );

    // Only minutes at or after `since`; nothing of another version, environment or project.
    let later = store
        .version_windows(&project(), &env("production"), &name("greet"), v(2), at(30))
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].window.samples, 1);
    for (p, e, n) in [
        (other(), "production", 2),
        (project(), "staging", 2),
        (project(), "production", 1),
    ] {
        let none = store
            .version_windows(&p, &env(e), &name("greet"), v(n), at(0))
            .await
            .unwrap();
        assert!(none.is_empty(), "{p} {e} {n}: {none:?}");
    }

    let rollout = store.rollout_windows(&project(), "r1").await.unwrap();
    assert_eq!(rollout.len(), 2, "{rollout:?}");
    assert_eq!(rollout[0].window.samples, 4);
    assert_eq!((rollout[1].step, rollout[1].arm.as_str()), (1, "candidate"));
    assert_eq!(rollout[1].window.policy_violations, 2);
    assert!(store
        .rollout_windows(&other(), "r1")
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .rollout_windows(&project(), "r2")
        .await
        .unwrap()
        .is_empty());
}

/// Id batches round-trip with every hash (the full 64 bits), are read from a time on, and
/// are pruned before a time.
pub async fn outcome_ids_round_trip_and_expire(store: Arc<dyn Store>) {
    let batch = |s: i64, hashes: Vec<u64>| OutcomeIdBatch {
        project: project(),
        replica: "a".into(),
        at: at(s),
        hashes,
    };
    store
        .insert_outcome_ids(&batch(0, vec![1, u64::MAX, 0x0123_4567_89ab_cdef]))
        .await
        .unwrap();
    store
        .insert_outcome_ids(&batch(60, vec![42]))
        .await
        .unwrap();
    let all = store.outcome_ids_since(at(0)).await.unwrap();
    assert_eq!(
        all,
        vec![
            batch(0, vec![1, u64::MAX, 0x0123_4567_89ab_cdef]),
            batch(60, vec![42])
        ]
    );
    assert_eq!(
        store.outcome_ids_since(at(30)).await.unwrap(),
        vec![batch(60, vec![42])]
    );
    assert_eq!(store.prune_outcome_ids(at(30)).await.unwrap(), 1);
    assert_eq!(
        store.outcome_ids_since(at(0)).await.unwrap(),
        vec![batch(60, vec![42])]
    );
}
