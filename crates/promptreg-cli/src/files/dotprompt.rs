//! `*.prompt`: Dotprompt-style files. YAML front matter between `---` lines, then the template.
//!
//! Only Dotprompt's front matter and its `{{role "..."}}` / `{{history}}` markers are
//! interpreted; the body itself is a promptreg (Jinja) template, so `{{ name }}` works in both
//! worlds and Handlebars blocks (`{{#if}}`) do not. Like Dotprompt, the body is trimmed and
//! text before the first role marker is a `user` message; after `{{history}}` it is the
//! model's (`assistant`). Dotprompt's `model` role is spelled `assistant` here.

use promptreg_api::CreateVersion;
use promptreg_core::{ChatEntry, Metadata, PromptType};
use serde_json::{json, Map, Value};

use super::{check_keys, take, yaml_to_json, FieldError, Parsed};

const FIELDS: &[&str] = &[
    "name",
    "type",
    "description",
    "model",
    "config",
    "variables",
    "input",
    "commit_message",
    "metadata",
    "tags",
];

/// Dotprompt fields promptreg has no place for: refused with a specific message.
const UNSUPPORTED: &[&str] = &[
    "variant", "version", "tools", "toolDefs", "output", "ext", "raw",
];

/// The placeholder `{{history}}` becomes.
const HISTORY: &str = "history";

/// Parses a `.prompt` file.
pub fn parse(text: &str) -> Result<Parsed, FieldError> {
    let (front, body) = split_front_matter(text)?;
    let mut map = match front.map(yaml_to_json).transpose()? {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(FieldError::whole("the front matter must be a YAML mapping")),
    };
    if let Some(key) = map
        .keys()
        .find(|k| UNSUPPORTED.contains(&k.as_str()) || k.contains('.'))
    {
        return Err(FieldError::new(
            key.clone(),
            "this Dotprompt field is not supported by promptreg; remove it",
        ));
    }
    check_keys(&map, FIELDS)?;

    let name = take::<String>(&mut map, "name")?;
    let variables = variables(&mut map)?;
    let model = model(&mut map)?;
    let metadata = metadata(&mut map)?;
    let commit_message = take::<String>(&mut map, "commit_message")?;

    let body = body.trim();
    let pieces = pieces(body)?;
    let has_roles = pieces.iter().any(|p| matches!(p, Piece::Role(_)));
    let prompt_type = take::<PromptType>(&mut map, "type")?.unwrap_or(if has_roles {
        PromptType::Chat
    } else {
        PromptType::Text
    });
    let (template, messages) = match prompt_type {
        PromptType::Text if has_roles => {
            return Err(FieldError::new(
                "type",
                "the body has {{role}} markers, which need `type: chat`",
            ))
        }
        PromptType::Text if body.is_empty() => {
            return Err(FieldError::new("template", "the body is empty"))
        }
        PromptType::Text => (Some(body.to_owned()), None),
        PromptType::Chat => (None, Some(messages(pieces)?)),
    };
    Ok(Parsed {
        name,
        body: CreateVersion {
            prompt_type,
            template,
            messages,
            variables,
            model,
            commit_message,
            metadata,
        },
    })
}

/// Splits `---`-delimited front matter from the body. Blank and `#` lines may precede the
/// opening `---` (license headers), as Dotprompt allows. A file without it is all body.
fn split_front_matter(text: &str) -> Result<(Option<&str>, &str), FieldError> {
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n');
    for line in lines.by_ref() {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_end();
        if trimmed == "---" {
            let front_start = offset;
            for line in lines.by_ref() {
                let line_start = offset;
                offset += line.len();
                if line.trim_end() == "---" {
                    return Ok((Some(&text[front_start..line_start]), &text[offset..]));
                }
            }
            let line_no = text[..start].matches('\n').count() + 1;
            return Err(FieldError::whole(format!(
                "the front matter opened by `---` on line {line_no} is never closed by another `---` line"
            )));
        }
        if !(trimmed.trim_start().is_empty() || trimmed.starts_with('#')) {
            break;
        }
    }
    Ok((None, text))
}

/// `variables` (JSON Schema) or Dotprompt's `input.schema` when it is JSON Schema.
fn variables(map: &mut Map<String, Value>) -> Result<Option<Value>, FieldError> {
    let variables = take::<Value>(map, "variables")?;
    let Some(input) = map.remove("input").filter(|v| !v.is_null()) else {
        return Ok(variables);
    };
    if variables.is_some() {
        return Err(FieldError::new(
            "input",
            "give the variables schema once: `variables` or `input.schema`",
        ));
    }
    let Value::Object(mut input) = input else {
        return Err(FieldError::new("input", "must be a mapping with `schema`"));
    };
    if input.contains_key("default") {
        return Err(FieldError::new(
            "input.default",
            "input defaults are not supported; use Jinja's `default` filter in the template, e.g. {{ tone | default('friendly') }}",
        ));
    }
    if let Some(key) = input.keys().find(|k| *k != "schema") {
        return Err(FieldError::new(
            format!("input.{key}"),
            "unknown field; expected `schema`",
        ));
    }
    match input.remove("schema") {
        None | Some(Value::Null) => Ok(None),
        Some(schema) => json_schema(schema).map(Some),
    }
}

/// Dotprompt accepts JSON Schema where the top level has a JSON-Schema `type` or a
/// `properties` mapping (it then adds `type: object`); anything else is Picoschema.
fn json_schema(schema: Value) -> Result<Value, FieldError> {
    const TYPES: &[&str] = &[
        "any", "boolean", "integer", "null", "number", "string", "object", "array",
    ];
    let Value::Object(mut obj) = schema else {
        return Err(FieldError::new(
            "input.schema",
            "named and scalar Picoschema schemas are not supported; write a JSON Schema object",
        ));
    };
    if obj
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| TYPES.contains(&t))
    {
        return Ok(Value::Object(obj));
    }
    if obj.get("properties").is_some_and(Value::is_object) {
        obj.insert("type".into(), json!("object"));
        return Ok(Value::Object(obj));
    }
    Err(FieldError::new(
        "input.schema",
        "this looks like Picoschema, which is not supported; write JSON Schema (`type: object` with `properties`)",
    ))
}

/// `model` (`provider/name` or an object) and `config` (its params).
fn model(map: &mut Map<String, Value>) -> Result<Option<Value>, FieldError> {
    let mut model = match map.remove("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let mut m = Map::new();
            match s.split_once('/') {
                Some((provider, name)) if !provider.is_empty() && !name.is_empty() => {
                    m.insert("provider".into(), json!(provider));
                    m.insert("name".into(), json!(name));
                }
                _ if !s.is_empty() && !s.contains('/') => {
                    m.insert("name".into(), json!(s));
                }
                _ => {
                    return Err(FieldError::new(
                        "model",
                        "a model string is `provider/name` (or just `name`)",
                    ))
                }
            }
            Some(m)
        }
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            return Err(FieldError::new(
                "model",
                "must be a string `provider/name` or a mapping",
            ))
        }
    };
    match map.remove("config") {
        None | Some(Value::Null) => {}
        Some(Value::Object(config)) => {
            let m = model.get_or_insert_with(Map::new);
            if m.contains_key("params") {
                return Err(FieldError::new(
                    "config",
                    "model parameters are given twice: `config` and `model.params`",
                ));
            }
            m.insert("params".into(), Value::Object(config));
        }
        Some(_) => {
            return Err(FieldError::new(
                "config",
                "must be a mapping of model parameters",
            ))
        }
    }
    Ok(model.map(Value::Object))
}

/// `metadata`, with `tags` and `description` folded in.
fn metadata(map: &mut Map<String, Value>) -> Result<Option<Metadata>, FieldError> {
    let mut metadata = take::<Metadata>(map, "metadata")?;
    if let Some(tags) = take::<Vec<String>>(map, "tags")? {
        let m = metadata.get_or_insert_with(Metadata::default);
        if !m.tags.is_empty() {
            return Err(FieldError::new(
                "tags",
                "tags are given twice: `tags` and `metadata.tags`",
            ));
        }
        m.tags = tags;
    }
    if let Some(description) = take::<String>(map, "description")? {
        let m = metadata.get_or_insert_with(Metadata::default);
        if m.extra.contains_key("description") {
            return Err(FieldError::new(
                "description",
                "the description is given twice: `description` and `metadata.description`",
            ));
        }
        m.extra.insert("description".into(), json!(description));
    }
    Ok(metadata)
}

/// A run of the body: text, or a marker.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Role(String),
    History,
}

/// Splits the body on `{{role "..."}}` and `{{history}}` markers (Handlebars `~` and
/// whitespace inside the braces allowed).
fn pieces(body: &str) -> Result<Vec<Piece<'_>>, FieldError> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut search = 0;
    while let Some(found) = body[search..].find("{{") {
        let at = search + found;
        match marker(&body[at..])? {
            Some((piece, len)) => {
                if at > pos {
                    out.push(Piece::Text(&body[pos..at]));
                }
                out.push(piece);
                pos = at + len;
                search = pos;
            }
            None => search = at + 2,
        }
    }
    if pos < body.len() {
        out.push(Piece::Text(&body[pos..]));
    }
    Ok(out)
}

/// The marker at the start of `s` (which starts with `{{`) and its length, if it is one.
fn marker(s: &str) -> Result<Option<(Piece<'static>, usize)>, FieldError> {
    let inner = s[2..].strip_prefix('~').unwrap_or(&s[2..]).trim_start();
    let close = |rest: &str| -> Option<usize> {
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('~').unwrap_or(rest);
        rest.strip_prefix("}}").map(|after| s.len() - after.len())
    };
    if let Some(rest) = inner.strip_prefix(HISTORY) {
        if rest.starts_with(|c: char| c.is_whitespace() || c == '~' || c == '}') {
            return Ok(close(rest).map(|len| (Piece::History, len)));
        }
        return Ok(None);
    }
    let Some(rest) = inner.strip_prefix("role") else {
        return Ok(None);
    };
    if !rest.starts_with(char::is_whitespace) {
        return Ok(None); // `{{role}}`, `{{roles}}`: ordinary variables
    }
    let rest = rest.trim_start();
    match rest.chars().next() {
        Some('"' | '\'') => {}
        // `{{role system}}`: meant as a marker (and not valid Jinja either).
        Some(c) if c.is_ascii_alphabetic() => {}
        // `{{ role }}`, `{{ role | upper }}`: a variable called `role`.
        _ => return Ok(None),
    }
    let bad = || {
        let shown: String = s.chars().take(40).collect();
        FieldError::new(
            "template",
            format!("malformed role marker {shown:?}: write {{{{role \"system\"}}}} with a quoted, lowercase role"),
        )
    };
    let quote = rest
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')
        .ok_or_else(bad)?;
    let rest = &rest[1..];
    let end = rest.find(quote).ok_or_else(bad)?;
    let role = &rest[..end];
    if role.is_empty() || !role.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(bad());
    }
    let len = close(&rest[end + 1..]).ok_or_else(bad)?;
    let role = if role == "model" { "assistant" } else { role };
    Ok(Some((Piece::Role(role.to_owned()), len)))
}

/// Turns the pieces into chat entries the way Dotprompt does, trimming each message.
fn messages(pieces: Vec<Piece<'_>>) -> Result<Vec<ChatEntry>, FieldError> {
    let mut out = Vec::new();
    let mut role = "user".to_owned();
    let mut text = String::new();
    let flush = |out: &mut Vec<ChatEntry>, role: &str, text: &mut String| {
        let content = text.trim();
        if !content.is_empty() {
            out.push(ChatEntry::Message {
                role: role.to_owned(),
                content: content.to_owned(),
            });
        }
        text.clear();
    };
    for piece in pieces {
        match piece {
            Piece::Text(t) => text.push_str(t),
            Piece::Role(r) => {
                flush(&mut out, &role, &mut text);
                role = r;
            }
            Piece::History => {
                flush(&mut out, &role, &mut text);
                out.push(ChatEntry::Placeholder {
                    name: HISTORY.into(),
                });
                role = "assistant".into();
            }
        }
    }
    flush(&mut out, &role, &mut text);
    if out.is_empty() {
        return Err(FieldError::new("messages", "the body has no message text"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
