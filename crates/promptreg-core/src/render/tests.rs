//! Unit tests of rendering: variables, control flow, chat placeholders, limits.

use serde_json::json;

use super::*;

fn text(t: &str, schema: Option<Value>) -> PromptContent {
    PromptContent::new(PromptBody::Text(t.into()), schema, None).unwrap()
}

#[test]
fn renders_variables_and_jinja_control_flow() {
    let c = text(
        "Hello {{ name }}{% if vip %}, welcome back{% endif %}!",
        None,
    );
    let out = render(&c, &json!({"name": "Ada", "vip": true})).unwrap();
    assert_eq!(out, Rendered::Text("Hello Ada, welcome back!".into()));
}

#[test]
fn undefined_variables_are_errors() {
    let c = text("Hello {{ name }}", None);
    let err = render(&c, &json!({})).unwrap_err();
    assert!(
        matches!(err, RenderError::Template { ref field, .. } if field == "template"),
        "{err}"
    );
}

#[test]
fn schema_is_checked_before_rendering() {
    let c = text(
        "{{ n }}",
        Some(
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
        ),
    );
    let err = render(&c, &json!({"n": "x"})).unwrap_err();
    assert!(err.to_string().contains("variables.n"), "{err}");
}

#[test]
fn runaway_loops_run_out_of_fuel() {
    let c = text(
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        None,
    );
    assert!(render(&c, &json!({})).is_err());
}

#[test]
fn chat_placeholders_inject_history() {
    let c = PromptContent::new(
        PromptBody::Chat(vec![
            ChatEntry::Message {
                role: "system".into(),
                content: "You help {{ team }}.".into(),
            },
            ChatEntry::Placeholder {
                name: "history".into(),
            },
        ]),
        None,
        None,
    )
    .unwrap();
    let out = render(
        &c,
        &json!({"team": "support", "history": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap();
    let Rendered::Chat(m) = out else {
        panic!("chat expected")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].content, "You help support.");
    assert_eq!(m[1].role, "user");
    let err = render(&c, &json!({"team": "x"})).unwrap_err();
    assert!(err.to_string().contains("variables.history"));
}

#[test]
fn optional_variables_work_in_tests_and_defaults() {
    for (t, want) in [
        ("Hi{% if vip %}, VIP{% endif %}!", "Hi!"),
        ("{% if vip is defined %}yes{% else %}no{% endif %}", "no"),
        ("{{ vip | default('guest') }}", "guest"),
        ("{% if user.vip %}x{% endif %}.", "."),
    ] {
        let out = render(&text(t, None), &json!({"user": {}})).unwrap();
        assert_eq!(out, Rendered::Text(want.into()), "{t}");
    }
}

#[test]
fn printing_an_undefined_variable_names_it() {
    for (t, vars, want) in [
        (
            "Hello {{ customer }}",
            json!({}),
            "undefined variable 'customer' (line 1)",
        ),
        (
            "{{ a }}\n{% if b %}{{ c }}{% endif %}\n{{ d }}",
            json!({"a": 1, "b": true}),
            "undefined variable 'c' (line 2)",
        ),
        (
            "Hello {{ name }}{% if vip %}!{% endif %}{{ tail | default('.') }}{{ x is defined }}",
            json!({}),
            "undefined variable 'name' (line 1)",
        ),
        (
            "Dear {{ user.name }}",
            json!({"user": {}}),
            "undefined variable 'user.name' (line 1)",
        ),
    ] {
        let err = render(&text(t, None), &vars).unwrap_err();
        assert!(
            matches!(err, RenderError::Template { ref field, ref message } if field == "template" && message == want),
            "{t}: {err}"
        );
    }
}
