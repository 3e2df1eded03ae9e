use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn text(t: &str) -> PromptContent {
    PromptContent::new(PromptBody::Text(t.into()), None, None).unwrap()
}

#[test]
fn digest_matches_an_independent_computation() {
    // JCS of {"type":"text","template":"Hello {{ name }}"} sorts keys: template before type.
    let expected = Digest::of_bytes(br#"{"template":"Hello {{ name }}","type":"text"}"#);
    assert_eq!(text("Hello {{ name }}").digest(), expected);
    assert_eq!(
        expected.as_str(),
        "sha256:".to_owned()
            + &hex::encode(Sha256::digest(
                br#"{"template":"Hello {{ name }}","type":"text"}"#
            ))
    );
}

#[test]
fn null_members_are_left_out_of_the_digest() {
    let with_nulls = PromptContent::new(
        PromptBody::Text("x".into()),
        Some(Value::Null),
        Some(Value::Null),
    )
    .unwrap();
    assert_eq!(with_nulls.digest(), text("x").digest());
}

#[test]
fn rfc8785_number_and_string_forms() {
    // Examples from RFC 8785 section 3.2.2 / appendix B.
    assert_eq!(canonical_json(&json!(1e30)), "1e+30");
    assert_eq!(canonical_json(&json!(4.50)), "4.5");
    assert_eq!(canonical_json(&json!(0.002)), "0.002");
    assert_eq!(canonical_json(&json!(-0.0)), "0");
    assert_eq!(
        canonical_json(&json!("\u{20ac}$\u{000F}\u{000a}A'B\"\\\\\"/")),
        "\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\""
    );
    assert_eq!(
        canonical_json(&json!({"b": 1, "a": {"d": true, "c": null}})),
        r#"{"a":{"c":null,"d":true},"b":1}"#
    );
}

#[test]
fn chat_entries_round_trip_and_refuse_mixtures() {
    let entries: Vec<ChatEntry> = serde_json::from_value(json!([
        {"role": "system", "content": "be {{ tone }}"},
        {"type": "placeholder", "name": "history"},
        {"type": "message", "role": "user", "content": "hi"}
    ]))
    .unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries[1],
        ChatEntry::Placeholder {
            name: "history".into()
        }
    );
    let back = serde_json::to_value(&entries).unwrap();
    assert_eq!(back[2], json!({"role": "user", "content": "hi"}));
    assert!(serde_json::from_value::<ChatEntry>(
        json!({"type": "placeholder", "name": "h", "role": "x"})
    )
    .is_err());
    assert!(serde_json::from_value::<ChatEntry>(json!({"role": "user"})).is_err());
    assert!(serde_json::from_value::<ChatEntry>(
        json!({"role": "user", "content": "x", "extra": 1})
    )
    .is_err());
}

#[test]
fn content_validation_names_the_field() {
    let err = PromptContent::new(PromptBody::Text("{% if %}".into()), None, None).unwrap_err();
    assert_eq!(err.field, "template");
    let err = PromptContent::new(
        PromptBody::Chat(vec![
            ChatEntry::Message {
                role: "system".into(),
                content: "ok".into(),
            },
            ChatEntry::Message {
                role: "user".into(),
                content: "{{ unclosed".into(),
            },
        ]),
        None,
        None,
    )
    .unwrap_err();
    assert_eq!(err.field, "messages[1].content");
    let err = PromptContent::new(
        PromptBody::Text("x".into()),
        Some(json!({"type": 12})),
        None,
    )
    .unwrap_err();
    assert_eq!(err.field, "variables");
    let err = PromptContent::new(PromptBody::Text("x".into()), None, Some(json!([1]))).unwrap_err();
    assert_eq!(err.field, "model");
    let err = PromptContent::new(PromptBody::Chat(vec![]), None, None).unwrap_err();
    assert_eq!(err.field, "messages");
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        (-1e12f64..1e12f64).prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z0-9_\u{e9}\u{1F600}]{0,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Rebuilds every object with its keys in reverse order, to show key order does not matter.
fn reorder(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut pairs: Vec<_> = m.iter().collect();
            pairs.reverse();
            let mut out = serde_json::Map::new();
            for (k, v) in pairs {
                out.insert(k.clone(), reorder(v));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(reorder).collect()),
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn canonical_json_parses_back_to_the_same_value(v in arb_json()) {
        let c = canonical_json(&v);
        let back: Value = serde_json::from_str(&c).unwrap();
        // Numbers may change representation (1.0 -> 1) but not value.
        prop_assert_eq!(canonical_json(&back), c);
    }

    #[test]
    fn canonical_json_ignores_key_order_and_whitespace(v in arb_json()) {
        let pretty = serde_json::to_string_pretty(&reorder(&v)).unwrap();
        let reparsed: Value = serde_json::from_str(&pretty).unwrap();
        prop_assert_eq!(canonical_json(&reparsed), canonical_json(&v));
    }

    #[test]
    fn digest_depends_only_on_content(t in "\\PC{0,40}", model in arb_json()) {
        let model = json!({"provider": "openai", "params": {"x": model}});
        let a = PromptContent::new(PromptBody::Text(t.replace('{', "(")), None, Some(model.clone())).unwrap();
        let b = PromptContent::new(PromptBody::Text(t.replace('{', "(")), None, Some(reorder(&model))).unwrap();
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert!(Digest::parse(a.digest().as_str()).is_ok());
    }
}

#[test]
fn content_round_trips_through_its_value() {
    let c = PromptContent::new(
        PromptBody::Chat(vec![ChatEntry::Placeholder { name: "h".into() }]),
        Some(json!({"type": "object"})),
        Some(json!({"provider": "x"})),
    )
    .unwrap();
    assert_eq!(PromptContent::from_value(&c.to_value()).unwrap(), c);
    assert_eq!(
        PromptContent::from_value(&json!({"type": "text", "template": "t", "x": 1}))
            .unwrap_err()
            .field,
        "x"
    );
    assert_eq!(
        PromptContent::from_value(&json!({"type": "text"}))
            .unwrap_err()
            .field,
        "template"
    );
}
