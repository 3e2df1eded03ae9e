//! Changes reach the agent's memory through the stream, and rollouts assign subjects exactly
//! as the server does.

use std::time::Duration;

use promptreg_api::{RollbackRequest, StartRollout};
use promptreg_core::Version;
use serde_json::json;

use super::{deploy, name, production, seed, until, Ctx};
use crate::agent_tests;

agent_tests!(
    a_rollback_reaches_the_cache_within_100_ms_without_polling,
    sticky_assignment_equals_the_servers_for_every_subject,
);

async fn a_rollback_reaches_the_cache_within_100_ms_without_polling(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(&admin, "support/triage", &["v1 {{ x }}", "v2 {{ x }}"]).await;
    deploy(&admin, "support/triage", 2).await;
    // A TTL of an hour: nothing but the stream can bring the change.
    let agent = ctx
        .agent()
        .ttl(Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    let live = |agent: &promptreg_client::Agent| {
        agent
            .resolve("support/triage", None)
            .unwrap()
            .version()
            .get()
    };
    assert_eq!(live(&agent), 2);
    until("the stream to be live", || agent.status().connected).await;

    let mut delays = Vec::new();
    for round in 0..5 {
        let body = RollbackRequest {
            to_version: None,
            reason: Some(format!("round {round}")),
        };
        admin
            .rollback(&production(), &name("support/triage"), &body)
            .await
            .unwrap();
        delays.push(until("the rollback to reach the cache", || live(&agent) == 1).await);
        deploy(&admin, "support/triage", 2).await;
        until("the redeploy to reach the cache", || live(&agent) == 2).await;
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    eprintln!("rollback to cache: {delays:?}");
    assert!(
        median <= Duration::from_millis(100),
        "median {median:?} ({delays:?})"
    );
    let status = agent.status();
    assert_eq!(status.reloads, 0, "no snapshot reload: {status:?}");
    assert_eq!(status.refused, 0, "{status:?}");
    assert!(status.changes_applied >= 10, "{status:?}");
    agent.shutdown().await;
}

async fn sticky_assignment_equals_the_servers_for_every_subject(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(&admin, "greeting", &["Hello {{ x }}", "Hi {{ x }}"]).await;
    let agent = ctx.agent().start().await.unwrap();
    assert_eq!(agent.resolve("greeting", Some("a")).unwrap().arm(), None);
    let start = StartRollout {
        candidate: Version::new(2).unwrap(),
        reason: None,
        strategy: json!({"canary": {"steps": [{"set_weight": 3000}, {"pause": {}}]}}),
        analysis: None,
        change_request: None,
    };
    let rollout = admin
        .start_rollout(&production(), &name("greeting"), &start)
        .await
        .unwrap();
    // The controller walks to the pause step; then the rollout holds still.
    let mut paused = None;
    for _ in 0..200 {
        let view = admin.rollout(&rollout.id).await.unwrap();
        if view.status == "paused" {
            paused = Some(view);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paused = paused.expect("the rollout reaches its pause step");
    assert_eq!(paused.weight, 3000);
    until("the agent to see the rollout's step", || {
        agent
            .resolve("greeting", Some("probe"))
            .unwrap()
            .assignment()
            .is_some_and(|a| a.step == paused.step)
    })
    .await;

    let mut arms = [0, 0];
    for i in 0..300 {
        let subject = format!("agent-{i}");
        let local = agent
            .resolve("greeting", Some(&subject))
            .unwrap()
            .resolved();
        admin.clear_resolve_cache();
        let remote = admin
            .resolve(&name("greeting"), None, Some(&subject))
            .await
            .unwrap();
        assert_eq!(local, remote, "subject {subject}");
        arms[usize::from(local.version.get() == 2)] += 1;
    }
    // Both arms are exercised: a comparison that only ever saw stable proves little.
    assert!(arms[0] > 150 && arms[1] > 50, "stable/candidate {arms:?}");
    // Without a subject: the live version, no assignment, like the server.
    let plain = agent.resolve("greeting", None).unwrap().resolved();
    admin.clear_resolve_cache();
    assert_eq!(
        plain,
        admin.resolve(&name("greeting"), None, None).await.unwrap()
    );

    admin.abort(&rollout.id, Some("enough")).await.unwrap();
    until("the abort to reach the cache", || {
        agent
            .resolve("greeting", Some("agent-1"))
            .unwrap()
            .arm()
            .is_none()
    })
    .await;
    for i in 0..20 {
        let subject = format!("agent-{i}");
        admin.clear_resolve_cache();
        let remote = admin
            .resolve(&name("greeting"), None, Some(&subject))
            .await
            .unwrap();
        assert_eq!(
            agent
                .resolve("greeting", Some(&subject))
                .unwrap()
                .resolved(),
            remote
        );
    }
    agent.shutdown().await;
}
