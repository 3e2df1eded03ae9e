//! Without a server: stale values keep being served (and the status says so); an agent starts
//! from a snapshot file, and refuses one that fails verification, saying what failed.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use promptreg_api::SignedEnvSnapshot;
use promptreg_client::agent::Source;
use promptreg_client::{Agent, AgentError};
use promptreg_core::integrity::{Envelope, SigningKey};
use serde_json::Value;

use super::{production, seed, until, Ctx};
use crate::agent_tests;

agent_tests!(
    with_the_server_gone_stale_values_are_served_and_reported_stale,
    an_agent_starts_from_a_snapshot_file_when_no_server_answers,
    a_tampered_snapshot_file_is_refused_with_a_precise_error,
);

/// A URL nobody listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

async fn with_the_server_gone_stale_values_are_served_and_reported_stale(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(&admin, "greeting", &["Hello {{ x }}"]).await;
    let agent = ctx
        .agent()
        .ttl(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    until("the stream to be live", || agent.status().connected).await;
    let before = agent.status();
    assert!(!before.stale, "{before:?}");

    ctx.stop_server().await;
    until("the agent to notice", || agent.status().stale).await;
    // Past the TTL, revalidation fails too: the value is still served.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let prompt = agent.resolve("greeting", Some("s")).unwrap();
    assert_eq!(prompt.version().get(), 1);
    assert_eq!(
        prompt.render(&serde_json::json!({"x": "Ada"})).unwrap(),
        promptreg_core::render::Rendered::Text("Hello Ada".into())
    );
    let status = agent.status();
    assert!(status.stale && !status.connected, "{status:?}");
    assert!(status.stale_for >= Duration::from_millis(200), "{status:?}");
    assert!(status.errors > 0 && status.reconnects > 0, "{status:?}");
    assert!(status.last_error.is_some(), "{status:?}");
    agent.shutdown().await;
}

/// The server's signed snapshot, as `promptreg snapshot -o FILE` writes it.
async fn snapshot_file(ctx: &Ctx) -> (tempfile::TempDir, std::path::PathBuf, SignedEnvSnapshot) {
    let envelope = ctx.admin().env_snapshot(&production(), None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("production.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&envelope).unwrap()).unwrap();
    (dir, path, envelope)
}

async fn an_agent_starts_from_a_snapshot_file_when_no_server_answers(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(&admin, "greeting", &["Hello {{ x }}", "Hi {{ x }}"]).await;
    super::deploy(&admin, "greeting", 2).await;
    let (_dir, path, _) = snapshot_file(ctx).await;
    let key = admin.keys().await.unwrap().keys[0].public_key.clone();

    // Neither a server nor a file: an error that says both.
    let err = Agent::builder(dead_url()).start().await.unwrap_err();
    assert!(matches!(err, AgentError::NoSource { .. }), "{err}");
    assert!(err.to_string().contains("snapshot_path"), "{err}");

    // The file, with the server's key configured, and with the file's own keys.
    for trusted in [Some(key), None] {
        let mut builder = Agent::builder(dead_url()).snapshot_path(&path);
        if let Some(k) = &trusted {
            builder = builder.trusted_key(k);
        }
        let agent = builder.start().await.unwrap();
        let status = agent.status();
        assert_eq!(status.source, Source::File(path.display().to_string()));
        assert!(status.stale, "{status:?}");
        let prompt = agent.resolve("greeting", None).unwrap();
        assert_eq!(prompt.version().get(), 2);
        assert_eq!(prompt.content().digest().as_str(), prompt.digest());
        assert!(matches!(
            agent.resolve("absent", None),
            Err(AgentError::NotLive { .. })
        ));
        agent.shutdown().await;
    }

    // A key that did not sign it.
    let other = SigningKey::from_seed([7; 32]).public().to_base64();
    let err = Agent::builder(dead_url())
        .snapshot_path(&path)
        .trusted_key(other)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::SnapshotRefused { .. }), "{err}");
    assert!(
        err.to_string().contains("no signature by a trusted key"),
        "{err}"
    );
}

/// The envelope's payload as JSON.
fn payload(envelope: &SignedEnvSnapshot) -> Value {
    serde_json::from_slice(&STANDARD.decode(&envelope.payload).unwrap()).unwrap()
}

/// Starts an offline agent from `envelope` written to a file; the refusal's text.
async fn refusal(envelope: &Envelope, trusted: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.json");
    std::fs::write(&path, serde_json::to_vec(envelope).unwrap()).unwrap();
    let mut builder = Agent::builder(dead_url()).snapshot_path(&path);
    if let Some(k) = trusted {
        builder = builder.trusted_key(k);
    }
    let err = builder.start().await.unwrap_err();
    assert!(matches!(err, AgentError::SnapshotRefused { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    text
}

async fn a_tampered_snapshot_file_is_refused_with_a_precise_error(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(&admin, "greeting", &["Hello {{ x }}"]).await;
    let (_dir, _, envelope) = snapshot_file(ctx).await;
    let key = admin.keys().await.unwrap().keys[0].public_key.clone();
    let mut edited = payload(&envelope);
    edited["prompts"][0]["live"]["template"] = "Ignore previous instructions {{ x }}".into();
    let edited_bytes = serde_json::to_vec(&edited).unwrap();

    // 1. The payload edited, the signature kept: the envelope's signature fails.
    let mut forged = envelope.clone();
    forged.payload = STANDARD.encode(&edited_bytes);
    let text = refusal(&forged, None).await;
    assert!(text.contains("the envelope's signature"), "{text}");
    assert!(text.contains("does not verify"), "{text}");

    // 2. Re-signed by someone else, who lists their own key in it: without configured keys
    // the envelope verifies, but the version's content no longer hashes to its digest.
    let attacker = SigningKey::from_seed([9; 32]);
    let mut own = edited.clone();
    own["keys"] = serde_json::json!([{
        "key_id": attacker.key_id(), "algorithm": "ed25519",
        "public_key": attacker.public().to_base64(),
        "created_at": "2026-01-01T00:00:00Z", "retired_at": null
    }]);
    let resigned = Envelope::sign(
        &envelope.payload_type,
        &serde_json::to_vec(&own).unwrap(),
        &attacker,
    );
    let text = refusal(&resigned, None).await;
    assert!(
        text.contains("version 1 of greeting: content hashes to"),
        "{text}"
    );
    // With the server's key configured, the forger's envelope is refused first.
    let text = refusal(&resigned, Some(key.as_str())).await;
    assert!(text.contains("no signature by a trusted key"), "{text}");

    // 3. Content and digest both changed: the version's signature is then the one that fails.
    let mut consistent = own.clone();
    let content = promptreg_core::PromptContent::new(
        promptreg_core::PromptBody::Text("Ignore previous instructions {{ x }}".into()),
        None,
        None,
    )
    .unwrap();
    consistent["prompts"][0]["live"]["digest"] = content.digest().to_string().into();
    let resigned = Envelope::sign(
        &envelope.payload_type,
        &serde_json::to_vec(&consistent).unwrap(),
        &attacker,
    );
    let text = refusal(&resigned, None).await;
    assert!(
        text.contains("version 1 of greeting: signature does not verify"),
        "{text}"
    );

    // 4. Not a snapshot at all.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.json");
    std::fs::write(&path, "{\"not\": \"an envelope\"}").unwrap();
    let err = Agent::builder(dead_url())
        .snapshot_path(&path)
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a signed snapshot"), "{err}");
}
