use std::path::Path;

use super::super::{parse_text, Format};
use super::*;

const TRIAGE: &str = r#"# Copyright header lines are allowed before the front matter.
---
description: Routes support tickets
model: openai/gpt-4o
config:
  temperature: 0.2
input:
  schema:
    type: object
    properties:
      ticket: {type: string}
    required: [ticket]
tags: [support, triage]
commit_message: first cut
---
{{role "system"}}
You triage support tickets.
{{history}}
{{ role 'user' }}
Ticket: {{ ticket }}
"#;

#[test]
fn a_chat_prompt_splits_on_role_markers() {
    let parsed = parse(TRIAGE).unwrap();
    assert_eq!(parsed.name, None);
    let expected: CreateVersion = serde_json::from_value(json!({
        "type": "chat",
        "messages": [
            {"role": "system", "content": "You triage support tickets."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "Ticket: {{ ticket }}"}
        ],
        "variables": {"type": "object", "properties": {"ticket": {"type": "string"}},
                      "required": ["ticket"]},
        "model": {"provider": "openai", "name": "gpt-4o", "params": {"temperature": 0.2}},
        "commit_message": "first cut",
        "metadata": {"tags": ["support", "triage"], "description": "Routes support tickets"}
    }))
    .unwrap();
    assert_eq!(parsed.body, expected);
}

#[test]
fn digests_are_stable_and_match_the_yaml_form() {
    let (name, _, digest) = parse_text(
        Format::Dotprompt,
        TRIAGE,
        Path::new("support/triage.prompt"),
    )
    .unwrap();
    assert_eq!(name.as_str(), "support/triage");
    let yaml = r#"
type: chat
messages:
  - {role: system, content: You triage support tickets.}
  - {type: placeholder, name: history}
  - {role: user, content: "Ticket: {{ ticket }}"}
variables: {type: object, properties: {ticket: {type: string}}, required: [ticket]}
model: {provider: openai, name: gpt-4o, params: {temperature: 0.2}}
"#;
    let (_, _, yaml_digest) = parse_text(Format::Yaml, yaml, Path::new("t.yaml")).unwrap();
    assert_eq!(digest, yaml_digest);
    // Re-parsing gives the same digest; trailing whitespace of the file does not matter.
    let (_, _, again) = parse_text(
        Format::Dotprompt,
        &format!("{TRIAGE}\n\n"),
        Path::new("support/triage.prompt"),
    )
    .unwrap();
    assert_eq!(digest, again);
}

#[test]
fn a_text_prompt_is_the_trimmed_body() {
    let parsed = parse("---\nname: greeting\n---\n\nHello {{ name }}!\n").unwrap();
    assert_eq!(parsed.name.as_deref(), Some("greeting"));
    assert_eq!(parsed.body.prompt_type, PromptType::Text);
    assert_eq!(parsed.body.template.as_deref(), Some("Hello {{ name }}!"));
    // No front matter at all: the whole file is the template.
    let parsed = parse("Hello {{ history }}\n").unwrap();
    assert_eq!(parsed.body.template.as_deref(), Some("Hello {{ history }}"));
    // `---` inside a body without front matter is text.
    let parsed = parse("Intro\n---\nMore").unwrap();
    assert_eq!(parsed.body.template.as_deref(), Some("Intro\n---\nMore"));
}

#[test]
fn model_strings_properties_schemas_and_defaults() {
    let parsed = parse(
        "---\nmodel: gpt-4o\ninput:\n  schema:\n    properties:\n      a: {type: string}\n---\nx",
    )
    .unwrap();
    assert_eq!(parsed.body.model, Some(json!({"name": "gpt-4o"})));
    assert_eq!(
        parsed.body.variables,
        Some(json!({"type": "object", "properties": {"a": {"type": "string"}}}))
    );
    let parsed = parse("---\nconfig: {max_tokens: 10}\n---\nx").unwrap();
    assert_eq!(
        parsed.body.model,
        Some(json!({"params": {"max_tokens": 10}}))
    );
    // Text before any role marker is the user's; after history, the model's.
    let parsed = parse("---\ntype: chat\n---\nHi\n{{history}}\nSure.").unwrap();
    let roles: Vec<String> = parsed
        .body
        .messages
        .unwrap()
        .iter()
        .map(|m| match m {
            ChatEntry::Message { role, .. } => role.clone(),
            ChatEntry::Placeholder { name } => format!("<{name}>"),
        })
        .collect();
    assert_eq!(roles, ["user", "<history>", "assistant"]);
    // `role` without a quoted argument is an ordinary variable.
    let parsed = parse("---\ntype: chat\n---\n{{ role | upper }}: {{role}}").unwrap();
    assert_eq!(
        parsed.body.messages,
        Some(vec![ChatEntry::Message {
            role: "user".into(),
            content: "{{ role | upper }}: {{role}}".into()
        }])
    );
    // Handlebars whitespace control around markers.
    let parsed = parse("{{~role \"system\"~}} Be brief. {{~ history ~}}").unwrap();
    assert_eq!(parsed.body.prompt_type, PromptType::Chat);
    assert_eq!(parsed.body.messages.unwrap().len(), 2);
}

#[test]
fn errors_name_the_field() {
    let field = |text: &str| parse(text).unwrap_err().field;
    assert_eq!(
        field("---\noutput: {format: json}\n---\nx"),
        Some("output".into())
    );
    assert_eq!(
        field("---\ntemperature: 1\n---\nx"),
        Some("temperature".into())
    );
    assert_eq!(
        field("---\ninput: {schema: {name: string}}\n---\nx"),
        Some("input.schema".into())
    );
    assert_eq!(
        field("---\ninput: {default: {a: 1}}\n---\nx"),
        Some("input.default".into())
    );
    assert_eq!(
        field("---\nvariables: {type: object}\ninput: {schema: {type: object}}\n---\nx"),
        Some("input".into())
    );
    assert_eq!(field("---\nmodel: 3\n---\nx"), Some("model".into()));
    assert_eq!(
        field("---\nmodel: {params: {}}\nconfig: {a: 1}\n---\nx"),
        Some("config".into())
    );
    assert_eq!(
        field("---\ntags: [a]\nmetadata: {tags: [b]}\n---\nx"),
        Some("tags".into())
    );
    assert_eq!(
        field("---\ntype: text\n---\n{{role \"user\"}} hi"),
        Some("type".into())
    );
    assert_eq!(
        field("---\ntype: chat\n---\n{{role system}} hi"),
        Some("template".into())
    );
    assert_eq!(field("---\nname: x\n---\n   \n"), Some("template".into()));
    assert_eq!(field("---\nname: x\nHello"), None);

    let err = parse_text(
        Format::Dotprompt,
        "---\ntype: chat\n---\n{{role \"user\"}}{{#if x}}y{{/if}}",
        Path::new("a.prompt"),
    )
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("messages[0].content"));
}
