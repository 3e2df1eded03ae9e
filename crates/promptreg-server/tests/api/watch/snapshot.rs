//! `GET /v1/environments/{env}/snapshot`: a DSSE envelope that verifies under the key of
//! `GET /v1/keys`, whose content is what resolve serves (with each version's own signature
//! and the active rollout), limited by `prefix`, with an ETag; and its `seq` followed by
//! `GET /v1/watch?after=seq` misses nothing.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use promptreg_api::{EnvSnapshot, ENV_SNAPSHOT_FORMAT, ENV_SNAPSHOT_PAYLOAD_TYPE};
use promptreg_core::integrity::dsse::Envelope;
use promptreg_core::integrity::keys::{KeyRing, PublicKey};
use serde_json::json;

use super::sse::{open, SECOND};
use crate::both_backends;
use crate::helpers::{enc, TestApp, ADMIN};

both_backends!(
    the_snapshot_verifies_and_holds_what_resolve_serves,
    a_snapshot_then_watching_after_its_seq_misses_nothing,
);

/// The keys of `GET /v1/keys`.
async fn ring(app: &TestApp) -> KeyRing {
    let keys = app.get("/v1/keys").await;
    assert_eq!(keys.status, StatusCode::OK);
    KeyRing::new(
        keys.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| PublicKey::from_base64(k["public_key"].as_str().unwrap()).unwrap())
            .collect(),
    )
}

/// A snapshot, checked against the keys: its envelope, its content and its ETag.
pub(crate) async fn snapshot(app: &TestApp, query: &str) -> (Envelope, EnvSnapshot, String) {
    let a = app
        .get(&format!("/v1/environments/production/snapshot{query}"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let envelope: Envelope = serde_json::from_value(a.body.clone()).unwrap();
    assert_eq!(envelope.payload_type, ENV_SNAPSHOT_PAYLOAD_TYPE);
    let payload = envelope
        .verify(&ring(app).await)
        .expect("the envelope verifies");
    // The payload is the RFC 8785 form of the snapshot.
    let value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(serde_json_canonicalizer::to_vec(&value).unwrap(), payload);
    let snap: EnvSnapshot = serde_json::from_value(value).unwrap();
    let etag = a.headers["etag"].to_str().unwrap().to_owned();
    (envelope, snap, etag)
}

async fn the_snapshot_verifies_and_holds_what_resolve_serves(app: &TestApp) {
    for name in ["support/triage", "billing", "draft"] {
        app.push(name, &format!("{name} one")).await;
        app.push(name, &format!("{name} two {{{{ who }}}}")).await;
    }
    app.deploy("production", "support/triage", 2).await;
    app.deploy("production", "billing", 1).await;
    app.deploy("staging", "draft", 1).await;
    let started = app
        .post(
            "/v1/environments/production/prompts/billing/rollouts",
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"set_weight": 2500}, {"pause": {}}]}}}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);

    let before = super::head(app).await;
    let (envelope, snap, etag) = snapshot(app, "").await;
    assert_eq!(snap.format, ENV_SNAPSHOT_FORMAT);
    assert_eq!(
        (snap.project.as_str(), snap.env.as_str()),
        ("default", "production")
    );
    assert_eq!(snap.prefix, None);
    // Taken at the head (the rollout controller may have written since).
    assert!(
        snap.seq >= before && snap.seq <= super::head(app).await,
        "{}",
        snap.seq
    );
    let keys = app.get("/v1/keys").await.body["keys"].clone();
    assert_eq!(serde_json::to_value(&snap.keys).unwrap(), keys);
    let names: Vec<&str> = snap.prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["billing", "support/triage"],
        "production's prompts, by name"
    );
    let ring = ring(app).await;
    for p in &snap.prompts {
        let resolved = app
            .get(&format!("/v1/resolve/{}?env=production", enc(&p.name)))
            .await;
        assert_eq!(
            p.live.version.get(),
            resolved.body["version"].as_i64().unwrap()
        );
        assert_eq!(p.live.digest, resolved.body["digest"].as_str().unwrap());
        assert_eq!(
            p.live.template,
            resolved.body["template"].as_str().map(str::to_owned)
        );
        let record = app
            .get(&format!(
                "/v1/environments/production/prompts/{}",
                enc(&p.name)
            ))
            .await;
        assert_eq!(
            p.pointer_seq,
            record.body["seq"].as_i64().unwrap(),
            "{}",
            record.body
        );
        // Each version carries its own signature, over a statement naming its digest.
        let signature: Envelope =
            serde_json::from_value(p.live.signature.clone().unwrap()).unwrap();
        let statement = String::from_utf8(signature.verify(&ring).unwrap()).unwrap();
        let hex = p.live.digest.trim_start_matches("sha256:");
        assert!(statement.contains(hex), "{statement}");
    }
    let rollout = snap.prompts[0].rollout.as_ref().expect("billing's rollout");
    assert_eq!(rollout.id, started.body["id"].as_str().unwrap());
    assert_eq!(rollout.strategy, "canary");
    assert!(
        ["progressing", "paused"].contains(&rollout.status.as_str()),
        "{}",
        rollout.status
    );
    // 0 until the controller's first pass sets the first step's weight.
    assert!([0, 2500].contains(&rollout.weight), "{}", rollout.weight);
    assert_eq!(rollout.candidate.version.get(), 2);
    assert!(snap.prompts[1].rollout.is_none());

    // The prefix limits it; an unchanged environment answers 304, a changed one a new tag
    // (on the prefix without the rollout, which the controller may step meanwhile).
    let (_, only, only_tag) = snapshot(app, "?prefix=support%2F").await;
    assert_eq!(only.prefix.as_deref(), Some("support/"));
    assert_eq!(only.prompts.len(), 1);
    assert_ne!(only_tag, etag);
    let again = app
        .raw(
            Method::GET,
            "/v1/environments/production/snapshot?prefix=support%2F",
            Some(ADMIN),
            vec![],
            &[("if-none-match", &only_tag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    app.push("support/triage", "three").await; // not a change of production
    let unchanged = app
        .raw(
            Method::GET,
            "/v1/environments/production/snapshot?prefix=support%2F",
            Some(ADMIN),
            vec![],
            &[("if-none-match", &only_tag)],
        )
        .await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    app.deploy("production", "support/triage", 3).await;
    let (_, _, moved_tag) = snapshot(app, "?prefix=support%2F").await;
    assert_ne!(moved_tag, only_tag);

    // A signature does not survive a change of the payload.
    let mut forged = envelope.clone();
    let mut value: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(&forged.payload)
            .unwrap(),
    )
    .unwrap();
    value["prompts"][0]["live"]["version"] = json!(99);
    forged.payload = base64::engine::general_purpose::STANDARD
        .encode(serde_json_canonicalizer::to_vec(&value).unwrap());
    assert!(forged.verify(&ring).is_err());
}

async fn a_snapshot_then_watching_after_its_seq_misses_nothing(app: &TestApp) {
    app.push("p", "one").await;
    app.push("p", "two").await;
    app.deploy("production", "p", 1).await;
    let (_, snap, _) = snapshot(app, "").await;
    assert_eq!(snap.prompts[0].live.version.get(), 1);
    // Changes after the snapshot.
    app.deploy("production", "p", 2).await;
    app.push("p", "three").await;
    let after = snap.seq.to_string();
    let mut s = open(
        &app.router,
        &format!("/v1/watch?env=production&after={after}"),
        &[],
    )
    .await;
    let (changes, ready) = s.until_ready().await;
    let ids: Vec<i64> = changes.iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(ids, super::watched_seqs(app, snap.seq).await);
    assert_eq!(changes[0].event, "pointer_moved");
    assert_eq!(changes[0].json()["change"]["to_version"], 2);
    assert_eq!(changes[1].json()["change"]["version"], 3);
    assert_eq!(ready, super::head(app).await);
    // And live from there.
    app.deploy("production", "p", 3).await;
    let live = s.event(SECOND * 5).await.unwrap();
    assert_eq!(live.json()["change"]["to_version"], 3);
}
