//! `*.yaml` / `*.yml`: the `POST /v1/prompts/{name}/versions` body as a YAML mapping, plus an
//! optional `name`. `type` may be left out when `template` (text) or `messages` (chat) makes
//! it obvious.

use promptreg_api::CreateVersion;
use promptreg_core::{ChatEntry, Metadata, PromptType};
use serde_json::Value;

use super::{check_keys, take, yaml_to_json, FieldError, Parsed};

const FIELDS: &[&str] = &[
    "name",
    "type",
    "template",
    "messages",
    "variables",
    "model",
    "commit_message",
    "metadata",
];

/// Parses a YAML prompt file.
pub fn parse(text: &str) -> Result<Parsed, FieldError> {
    let Value::Object(mut map) = yaml_to_json(text)? else {
        return Err(FieldError::whole(
            "a prompt file is a YAML mapping with `template` or `messages`",
        ));
    };
    check_keys(&map, FIELDS)?;
    let name = take::<String>(&mut map, "name")?;
    let template = take::<String>(&mut map, "template")?;
    let messages = take_messages(map.remove("messages"))?;
    let prompt_type = match (take::<PromptType>(&mut map, "type")?, &template, &messages) {
        (Some(t), _, _) => t,
        (None, Some(_), None) => PromptType::Text,
        (None, None, Some(_)) => PromptType::Chat,
        (None, _, _) => {
            return Err(FieldError::new(
                "type",
                "missing: give `type: text` with `template`, or `type: chat` with `messages`",
            ))
        }
    };
    let body = CreateVersion {
        prompt_type,
        template,
        messages,
        variables: take::<Value>(&mut map, "variables")?,
        model: take::<Value>(&mut map, "model")?,
        commit_message: take::<String>(&mut map, "commit_message")?,
        metadata: take::<Metadata>(&mut map, "metadata")?,
    };
    Ok(Parsed { name, body })
}

/// Deserialises messages one by one so that an error names its index.
fn take_messages(value: Option<Value>) -> Result<Option<Vec<ChatEntry>>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                serde_json::from_value(item)
                    .map_err(|e| FieldError::new(format!("messages[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(FieldError::new("messages", "must be a list of messages")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::super::{parse_text, Format};
    use super::*;

    #[test]
    fn a_chat_file_becomes_the_api_body() {
        let text = r#"
name: support/triage
type: chat
messages:
  - role: system
    content: "You triage tickets for {{ team }}."
  - type: placeholder
    name: history
  - role: user
    content: "{{ ticket }}"
variables:
  type: object
  properties:
    team: {type: string}
    ticket: {type: string}
  required: [team, ticket]
model: {provider: openai, name: gpt-4o, params: {temperature: 0.2}}
commit_message: first cut
metadata:
  tags: [support]
  rationale: baseline
  compat: {agent_types: [triage]}
"#;
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.name.as_deref(), Some("support/triage"));
        let expected: CreateVersion = serde_json::from_value(json!({
            "type": "chat",
            "messages": [
                {"role": "system", "content": "You triage tickets for {{ team }}."},
                {"type": "placeholder", "name": "history"},
                {"role": "user", "content": "{{ ticket }}"}
            ],
            "variables": {"type": "object",
                          "properties": {"team": {"type": "string"}, "ticket": {"type": "string"}},
                          "required": ["team", "ticket"]},
            "model": {"provider": "openai", "name": "gpt-4o", "params": {"temperature": 0.2}},
            "commit_message": "first cut",
            "metadata": {"tags": ["support"], "rationale": "baseline",
                         "compat": {"agent_types": ["triage"]}}
        }))
        .unwrap();
        assert_eq!(parsed.body, expected);

        // The digest is the server's: content only, canonical JSON, stable across runs.
        let (name, body, digest) = parse_text(Format::Yaml, text, Path::new("x.yaml")).unwrap();
        assert_eq!(name.as_str(), "support/triage");
        assert_eq!(digest, body.content().unwrap().digest());
        let mut reworded = body.clone();
        reworded.commit_message = Some("metadata is not content".into());
        assert_eq!(reworded.content().unwrap().digest(), digest);
    }

    #[test]
    fn the_digest_is_pinned() {
        // {"template":"Hello {{ name }}","type":"text"} hashed independently.
        let (_, _, digest) = parse_text(
            Format::Yaml,
            "template: Hello {{ name }}\n",
            Path::new("greeting.yml"),
        )
        .unwrap();
        assert_eq!(
            digest.as_str(),
            promptreg_core::Digest::of_bytes(br#"{"template":"Hello {{ name }}","type":"text"}"#)
                .as_str()
        );
    }

    #[test]
    fn text_type_is_inferred_and_name_is_optional() {
        let parsed = parse("template: Hello {{ name }}").unwrap();
        assert_eq!(parsed.name, None);
        assert_eq!(parsed.body.prompt_type, PromptType::Text);
        assert_eq!(parsed.body.template.as_deref(), Some("Hello {{ name }}"));
    }

    #[test]
    fn errors_name_the_field() {
        let field = |text: &str| parse(text).unwrap_err().field;
        assert_eq!(
            field("template: x\ntemperature: 1"),
            Some("temperature".into())
        );
        assert_eq!(field("type: txt\ntemplate: x"), Some("type".into()));
        assert_eq!(
            field("messages:\n  - role: system\n    content: ok\n  - role: user\n"),
            Some("messages[1]".into())
        );
        assert_eq!(
            field("template: x\ncommit_message: [1]"),
            Some("commit_message".into())
        );
        assert_eq!(field("variables: {}"), Some("type".into()));
        assert_eq!(parse("- a\n- b").unwrap_err().field, None);
        assert_eq!(parse("template: [").unwrap_err().field, None);

        // Content checks come from promptreg-core and name the field too.
        let err = parse_text(Format::Yaml, "template: '{{ x'", Path::new("a.yaml")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("template"));
        let err = parse_text(
            Format::Yaml,
            "template: x\nvariables: {type: 12}",
            Path::new("a.yaml"),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("variables"));
    }
}
