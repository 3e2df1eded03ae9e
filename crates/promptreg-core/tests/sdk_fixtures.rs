//! The fixtures the SDKs share (`sdk/fixtures/`): the Rust side must compute exactly what the
//! files say, and the Python SDK's tests assert the same files, so both agree with the server.
//!
//! - `bucket.json`: murmur3 vectors and `rollout::bucket` for many (rollout, subject) pairs;
//! - `render.json`: template + variables -> output, or the kind of error (`undefined`,
//!   `template`, `variables`, `limit`), as `render::render` answers;
//! - `digest.json`: content objects -> their digest.
//!
//! `PROMPTREG_WRITE_FIXTURES=1 cargo test -p promptreg-core --test sdk_fixtures` rewrites the
//! expected values from this code (after adding cases); review the diff before committing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use promptreg_core::render::{render, RenderError, Rendered};
use promptreg_core::rollout::bucket;
use promptreg_core::rollout::bucket::murmur3_x86_32;
use promptreg_core::PromptContent;
use serde_json::{json, Value};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../sdk/fixtures")
        .join(name)
}

fn writing() -> bool {
    std::env::var_os("PROMPTREG_WRITE_FIXTURES").is_some()
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(path(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn store(name: &str, value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    std::fs::write(path(name), text).unwrap();
}

/// Checks (or, when writing, fills in) `case[key]`; returns how many differed.
fn expect(case: &mut Value, key: &str, actual: Value) -> usize {
    if writing() {
        case[key] = actual;
        return 0;
    }
    if case[key] != actual {
        eprintln!("{}: expected {}, got {actual}", case["name"], case[key]);
        return 1;
    }
    0
}

#[test]
fn bucket_vectors_match() {
    let mut doc = load("bucket.json");
    let mut wrong = 0;
    for case in doc["murmur3"].as_array_mut().unwrap() {
        let input = case["input"].as_str().unwrap().as_bytes().to_vec();
        let seed = case["seed"].as_u64().unwrap() as u32;
        wrong += expect(case, "hash", json!(murmur3_x86_32(&input, seed)));
    }
    for case in doc["buckets"].as_array_mut().unwrap() {
        let b = bucket(
            case["rollout"].as_str().unwrap(),
            case["subject"].as_str().unwrap(),
        );
        wrong += expect(case, "bucket", json!(b));
    }
    if writing() {
        store("bucket.json", &doc);
    }
    assert_eq!(
        wrong, 0,
        "bucket.json disagrees with promptreg_core::rollout"
    );
}

/// The kind of a render error, as the SDKs classify theirs.
fn kind(e: &RenderError) -> &'static str {
    match e {
        RenderError::Invalid(_) => "variables",
        RenderError::Template { field, .. } if field.starts_with("variables") => "variables",
        RenderError::Template { message, .. } if message.contains("undefined") => "undefined",
        RenderError::Template { .. } => "template",
        RenderError::Limit { .. } => "limit",
    }
}

#[test]
fn render_cases_match() {
    let mut doc = load("render.json");
    let mut wrong = 0;
    for case in doc["cases"].as_array_mut().unwrap() {
        let mut content = json!({"type": "text"});
        if let Some(messages) = case.get("messages") {
            content = json!({"type": "chat", "messages": messages});
        } else {
            content["template"] = case["template"].clone();
        }
        if let Some(schema) = case.get("schema") {
            content["variables"] = schema.clone();
        }
        let actual = match PromptContent::from_value(&content) {
            // Refused at publish time: the server never stores it.
            Err(_) => json!({"error": "template"}),
            Ok(c) => match render(&c, &case["variables"]) {
                Ok(Rendered::Text(t)) => json!({"output": t}),
                Ok(Rendered::Chat(m)) => json!({"messages": m}),
                Err(e) => json!({"error": kind(&e)}),
            },
        };
        wrong += expect(case, "expect", actual);
    }
    if writing() {
        store("render.json", &doc);
    }
    assert_eq!(
        wrong, 0,
        "render.json disagrees with promptreg_core::render"
    );
}

#[test]
fn digest_cases_match() {
    let mut doc = load("digest.json");
    let mut wrong = 0;
    for case in doc["cases"].as_array_mut().unwrap() {
        let content = PromptContent::from_value(&case["content"]).unwrap();
        wrong += expect(case, "digest", json!(content.digest().as_str()));
    }
    if writing() {
        store("digest.json", &doc);
    }
    assert_eq!(
        wrong, 0,
        "digest.json disagrees with promptreg_core::content"
    );
}
