//! `promptreg render <NAME> [--env ENV] [--var K=V ...] [--vars-file F.json] [--local]`: the
//! live version rendered with variables, by the server or (`--local`) by this client after a
//! digest check.

use std::path::PathBuf;

use anyhow::Context as _;
use promptreg_api::{RenderRequest, RenderedView};
use promptreg_client::render_local;
use promptreg_core::render::Rendered;
use promptreg_core::{EnvName, PromptName};
use serde_json::{Map, Value};

use super::Ctx;
use crate::output::print_json;

/// Arguments of `render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Prompt name.
    name: PromptName,
    /// Environment whose live version is rendered.
    #[arg(long, default_value = "production")]
    env: EnvName,
    /// A variable, KEY=VALUE; VALUE is JSON when it parses (3, true, ["a"], "quoted"), else a
    /// string. Repeatable; overrides --vars-file.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    vars: Vec<(String, Value)>,
    /// A JSON object of variables.
    #[arg(long, value_name = "FILE.json")]
    vars_file: Option<PathBuf>,
    /// Resolve, verify the digest and render in this process instead of on the server.
    #[arg(long)]
    local: bool,
}

/// `KEY=VALUE` with VALUE as JSON when it parses, else as a string.
fn parse_var(s: &str) -> Result<(String, Value), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    if key.is_empty() {
        return Err(format!("empty variable name in {s:?}"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

/// Runs `render`.
pub async fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let mut variables = match &args.vars_file {
        Some(path) => read_vars_file(path)?,
        None => Map::new(),
    };
    variables.extend(args.vars.iter().cloned());
    let variables = Value::Object(variables);

    let view = if args.local {
        let resolved = ctx
            .client
            .resolve(&args.name, Some(&args.env), None)
            .await
            .with_context(|| format!("resolving {} in {}", args.name, args.env))?;
        let rendered = render_local(&resolved, &variables)
            .with_context(|| format!("rendering {} v{}", resolved.name, resolved.version))?;
        let (text, messages) = match rendered {
            Rendered::Text(t) => (Some(t), None),
            Rendered::Chat(m) => (None, Some(m)),
        };
        RenderedView {
            name: resolved.name,
            version: resolved.version,
            digest: resolved.digest,
            env: resolved.env,
            prompt_type: resolved.prompt_type,
            text,
            messages,
            assignment: resolved.assignment,
        }
    } else {
        ctx.client
            .render(&args.name, Some(&args.env), &RenderRequest { variables })
            .await
            .with_context(|| format!("rendering {} in {}", args.name, args.env))?
    };
    if ctx.json() {
        return print_json(&view);
    }
    if let Some(text) = &view.text {
        outln!("{text}")?;
    }
    let blocks: Vec<String> = view
        .messages
        .iter()
        .flatten()
        .map(|m| format!("[{}]\n{}", m.role, m.content))
        .collect();
    if !blocks.is_empty() {
        outln!("{}", blocks.join("\n\n"))?;
    }
    Ok(())
}

fn read_vars_file(path: &PathBuf) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --vars-file {}", path.display()))?;
    match serde_json::from_str(&text)
        .with_context(|| format!("--vars-file {}: not valid JSON", path.display()))?
    {
        Value::Object(map) => Ok(map),
        _ => anyhow::bail!("--vars-file {}: must be a JSON object", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn var_values_are_json_when_they_parse() {
        assert_eq!(parse_var("n=3").unwrap(), ("n".into(), json!(3)));
        assert_eq!(parse_var("ok=true").unwrap(), ("ok".into(), json!(true)));
        assert_eq!(
            parse_var("name=Ada").unwrap(),
            ("name".into(), json!("Ada"))
        );
        assert_eq!(parse_var("s=\"3\"").unwrap(), ("s".into(), json!("3")));
        assert_eq!(parse_var("l=[1,2]").unwrap(), ("l".into(), json!([1, 2])));
        assert_eq!(parse_var("eq=a=b").unwrap(), ("eq".into(), json!("a=b")));
        assert_eq!(parse_var("empty=").unwrap(), ("empty".into(), json!("")));
        assert!(parse_var("novalue").is_err());
        assert!(parse_var("=x").is_err());
    }
}
