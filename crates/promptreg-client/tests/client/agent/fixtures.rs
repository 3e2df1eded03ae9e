//! The fixtures shared with the Python SDK (`sdk/fixtures/`): bucket vectors and render cases,
//! checked against the code the Rust agent uses (`promptreg_core`'s bucket and renderer).

use promptreg_api::CreateVersion;
use promptreg_core::render::{render, Rendered};
use promptreg_core::rollout::{bucket, is_candidate};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../sdk/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn bucket_vectors_match_the_servers_rule() {
    let doc = fixture("bucket_vectors.json");
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 20);
    for v in vectors {
        let (rollout, subject) = (
            v["rollout"].as_str().unwrap(),
            v["subject"].as_str().unwrap(),
        );
        let b = bucket(rollout, subject);
        assert_eq!(u64::from(b), v["bucket"].as_u64().unwrap(), "{v}");
        for (weight, arm) in v["arm_at_weight"].as_object().unwrap() {
            let expected = arm.as_str().unwrap() == "candidate";
            assert_eq!(
                is_candidate(b, weight.parse().unwrap()),
                expected,
                "{v} at {weight}"
            );
        }
    }
}

#[test]
fn render_cases_match_the_servers_renderer() {
    let doc = fixture("render_cases.json");
    for case in doc["cases"].as_array().unwrap() {
        let body: CreateVersion = serde_json::from_value(case["content"].clone()).unwrap();
        let content = body.content().unwrap();
        let rendered = render(&content, &case["variables"]).unwrap();
        let got = match rendered {
            Rendered::Text(t) => serde_json::json!({"text": t}),
            Rendered::Chat(m) => serde_json::json!({"messages": m}),
        };
        assert_eq!(got, case["expected"], "case {}", case["name"]);
    }
}
