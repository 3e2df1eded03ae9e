//! A reduced fleet simulation in CI (the full runs, with their commands, are in
//! docs/delivery.md): a 10x unsafe-action rate and a 5-point success drop are rolled back,
//! a sample-ratio mismatch is caught, and A/A rollouts end without false rollbacks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use promptreg_bench::fleet::{run_scenario, Rates, Scenario};
use serde_json::json;

fn scenario(url: &str, token: &str, name: &str, candidate: Rates, seed: u64) -> Scenario {
    Scenario {
        name: name.to_owned(),
        base_url: url.to_owned(),
        token: token.to_owned(),
        agents: 1_000,
        rate_per_s: 1_000.0,
        weight: 2_000,
        analysis: json!({"interval": "500ms", "min_sample": 200,
            "breakers": [{"metric": "unsafe_action_rate", "max": 0.02},
                         {"metric": "policy_violations", "max": 0}],
            "compare": [{"metric": "success_rate", "max_drop": 0.0},
                        {"metric": "unsafe_action_rate", "max_increase": 0.0}]}),
        stable: base(),
        candidate,
        enough_candidate_outcomes: None,
        max_duration: Duration::from_secs(60),
        seed,
    }
}

fn base() -> Rates {
    Rates {
        unsafe_action: 0.005,
        ..Rates::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_fleet_gets_bad_canaries_rolled_back_and_keeps_good_ones() {
    let server = promptreg_server::testing::spawn_sqlite().await.unwrap();
    let (url, token) = (server.url().to_owned(), server.admin_token().to_owned());
    let client = reqwest::Client::new();

    let unsafe_x10 = Rates {
        unsafe_action: 0.05,
        ..base()
    };
    let r = run_scenario(&client, &scenario(&url, &token, "unsafe", unsafe_x10, 1))
        .await
        .unwrap();
    assert!(r.rolled_back, "10x unsafe actions not rolled back: {r:?}");
    assert!(r.min_sample_to_fleet_stable_ms.unwrap() < 30_000, "{r:?}");

    let drop = Rates {
        success: 0.80,
        ..base()
    };
    let r = run_scenario(&client, &scenario(&url, &token, "drop", drop, 2))
        .await
        .unwrap();
    assert!(
        r.rolled_back,
        "a 15-point success drop not rolled back: {r:?}"
    );

    let lossy = Rates {
        reported: 0.5,
        ..base()
    };
    let r = run_scenario(&client, &scenario(&url, &token, "srm", lossy, 3))
        .await
        .unwrap();
    assert!(r.rolled_back, "sample-ratio mismatch not caught: {r:?}");

    let mut false_rollbacks = 0;
    for i in 0..8 {
        let mut s = scenario(&url, &token, &format!("aa{i}"), base(), 10 + i);
        s.enough_candidate_outcomes = Some(400);
        let r = run_scenario(&client, &s).await.unwrap();
        assert_eq!(r.outcomes_rejected, 0, "{r:?}");
        false_rollbacks += u32::from(r.rolled_back);
    }
    assert!(
        false_rollbacks <= 1,
        "{false_rollbacks} false rollbacks in 8 A/A rollouts"
    );
    server.stop().await;
}
