//! The agent SDK's cache hit: nanoseconds per `Agent::resolve` over millions of calls, with
//! and without a subject during a canary (issue 15: a hit must cost at most 1 µs).
//!
//! Self-contained: it signs an environment snapshot with a throw-away key (the same DSSE and
//! in-toto formats the server uses), writes it to a temporary file and starts the agent from
//! it with no server (PROMPTS live prompts, one with a 30 % canary), then times the hot
//! path on one thread:
//!
//! ```sh
//! cargo run --release -p promptreg-client --example sdk_hit -- [CALLS [PROMPTS]] [--json]
//! ```

use std::hint::black_box;
use std::time::Instant;

use chrono::Utc;
use promptreg_api::{
    EnvSnapshot, SigningKeyView, SnapshotPrompt, SnapshotRollout, VersionView, ENV_SNAPSHOT_FORMAT,
    ENV_SNAPSHOT_PAYLOAD_TYPE,
};
use promptreg_client::Agent;
use promptreg_core::integrity::statement::{Statement, VersionPredicate};
use promptreg_core::integrity::{Envelope, SigningKey};
use promptreg_core::{Metadata, ProjectId, PromptBody, PromptContent, PromptName, Version};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// `[CALLS [PROMPTS]] [--json]`.
struct Args {
    /// Calls per measurement (default 5,000,000).
    calls: u64,
    /// Live prompts in the snapshot (default 1,000).
    prompts: usize,
    /// One JSON line instead of text.
    json: bool,
}

impl Args {
    fn parse() -> Result<Self> {
        let mut args = Args {
            calls: 5_000_000,
            prompts: 1000,
            json: false,
        };
        let mut numbers = Vec::new();
        for a in std::env::args().skip(1) {
            match a.as_str() {
                "--json" => args.json = true,
                n => numbers.push(n.parse::<u64>()?),
            }
        }
        if let Some(calls) = numbers.first() {
            args.calls = *calls;
        }
        if let Some(prompts) = numbers.get(1) {
            args.prompts = usize::try_from(*prompts)?;
        }
        Ok(args)
    }
}

/// A signed version view of `name`.
fn version(key: &SigningKey, name: &str, n: i64, template: &str) -> Result<VersionView> {
    let content = PromptContent::new(PromptBody::Text(template.into()), None, None)?;
    let digest = content.digest();
    let name = PromptName::parse(name)?;
    let version = Version::new(n)?;
    let metadata = Metadata::default();
    let created_at = Utc::now();
    let predicate = VersionPredicate {
        project: ProjectId::parse("default")?,
        name: name.clone(),
        version,
        parent: None,
        author: "bench".into(),
        commit_message: None,
        metadata_digest: metadata.digest(),
        created_at,
    };
    let signature = Statement::for_version(&digest, &predicate).sign(key);
    Ok(VersionView {
        name,
        version,
        digest: digest.to_string(),
        prompt_type: content.prompt_type(),
        template: Some(template.into()),
        messages: None,
        variables: None,
        model: None,
        commit_message: None,
        metadata,
        parent: None,
        created_by: "bench".into(),
        created_at,
        created: None,
        signature: Some(serde_json::to_value(signature)?),
        ledger_index: None,
        pruned_at: None,
        validations: None,
    })
}

fn snapshot(key: &SigningKey, prompts: usize) -> Result<Envelope> {
    let mut list = Vec::with_capacity(prompts);
    for i in 0..prompts {
        let name = format!("bench/p{i}");
        let rollout = match i {
            0 => Some(SnapshotRollout {
                id: "01900000-0000-7000-8000-000000000000".into(),
                revision: 2,
                strategy: "canary".into(),
                status: "paused".into(),
                step: 1,
                weight: 3000,
                switched: false,
                candidate: version(key, &name, 2, "Hi {{ name }}")?,
            }),
            _ => None,
        };
        list.push(SnapshotPrompt {
            name: name.clone(),
            pointer_seq: 1,
            live: version(key, &name, 1, "Hello {{ name }}")?,
            rollout,
        });
    }
    let snapshot = EnvSnapshot {
        format: ENV_SNAPSHOT_FORMAT.into(),
        project: "default".into(),
        env: "production".into(),
        prefix: None,
        seq: 1,
        taken_at: Utc::now(),
        keys: vec![SigningKeyView {
            key_id: key.key_id().to_owned(),
            algorithm: "ed25519".into(),
            public_key: key.public().to_base64(),
            created_at: Utc::now(),
            retired_at: None,
        }],
        prompts: list,
    };
    let payload = serde_json_canonicalizer::to_vec(&snapshot)?;
    Ok(Envelope::sign(ENV_SNAPSHOT_PAYLOAD_TYPE, &payload, key))
}

/// Nanoseconds per call of `f` over `calls` calls.
fn time(calls: u64, mut f: impl FnMut(u64)) -> f64 {
    // Warm the caches and the branch predictor first.
    for i in 0..calls / 10 {
        f(i);
    }
    let start = Instant::now();
    for i in 0..calls {
        f(i);
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse()?;
    let key = SigningKey::from_seed([42; 32]);
    let dir = std::env::temp_dir().join(format!("promptreg-sdk-hit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("snapshot.json");
    std::fs::write(&path, serde_json::to_vec(&snapshot(&key, args.prompts)?)?)?;
    // Port 9 (discard) on localhost: nothing answers, so the agent starts from the file.
    let agent = Agent::builder("http://127.0.0.1:9")
        .snapshot_path(&path)
        .start()
        .await?;
    let _ = std::fs::remove_dir_all(&dir);

    let plain = time(args.calls, |_| {
        black_box(agent.resolve(black_box("bench/p500"), None).ok());
    });
    let subjects: Vec<String> = (0..1024).map(|i| format!("agent-{i}")).collect();
    let canary = time(args.calls, |i| {
        let subject = &subjects[(i % 1024) as usize];
        black_box(agent.resolve(black_box("bench/p0"), Some(subject)).ok());
    });
    if args.json {
        println!(
            "{}",
            serde_json::json!({"calls": args.calls, "prompts": args.prompts,
                "hit_ns": plain, "hit_subject_canary_ns": canary})
        );
    } else {
        println!("prompts cached:                  {}", args.prompts);
        println!("resolve hit, no subject:         {plain:.1} ns/call");
        println!("resolve hit, subject in canary:  {canary:.1} ns/call");
    }
    agent.shutdown().await;
    Ok(())
}
