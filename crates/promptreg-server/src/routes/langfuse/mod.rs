//! The Langfuse public prompt API (`/api/public/v2/prompts…`, `/api/public/projects`), so the
//! unmodified Langfuse SDKs work against promptreg with a key pair (`POST /v1/key-pairs`) as
//! their public and secret key.
//!
//! The mapping: a Langfuse **label is a promptreg environment**. "Version 3 carries label
//! `staging`" means "version 3 is live in environment `staging`", so setting a label is a
//! deploy (it moves the pointer, and with it the label, off the version that had it, and is
//! recorded in the deploy history), and reading a label is a resolve from the in-memory index.
//! `latest` is computed (the newest version), never stored; `production` is only the default
//! label of a fetch. As in Langfuse, labels are free-form: a label that names no environment
//! creates one (unprotected, recorded like any environment creation) when the caller may
//! deploy, unless the server is started with `--no-labels-create-environments`.
//! `config` is the version's `model` object and `tags` its `metadata.tags`.
//!
//! - [`wire`]: Langfuse's JSON shapes and the content mapping.
//! - [`error`]: Langfuse's error body, converted from [`ApiError`] in one place.
//! - `write`: create a version, set labels, and the refused delete.

pub mod error;
pub mod wire;
mod write;

use axum::extract::State;
use axum::routing::{get, patch};
use axum::{Json, Router};
use promptreg_core::{EnvName, PromptName, Version};
use promptreg_store::{
    OffsetPage, PromptPage, PromptQuery, PromptRecord, StoredContent, VersionRecord,
};
use serde::Deserialize;

pub use write::{__path_create_prompt, __path_delete_prompt, __path_update_labels};
pub use write::{create_prompt, delete_prompt, update_labels};

use self::error::{LangfuseError, LfResult};
use self::wire::{PageMeta, Projects, PromptMeta, PromptMetaList, PromptRow};
use super::versions::prompt_name;
use crate::app::AppState;
use crate::auth::{Caller, KeyPairCaller};
use crate::error::ApiError;
use crate::extract::{AppPath, AppQuery};

/// The Langfuse routes; they go through the same layers as `/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/public/v2/prompts",
            get(list_prompts).post(create_prompt),
        )
        .route(
            "/api/public/v2/prompts/{name}",
            get(get_prompt).delete(delete_prompt),
        )
        .route(
            "/api/public/v2/prompts/{name}/versions/{version}",
            patch(update_labels),
        )
        .route("/api/public/projects", get(projects))
}

/// The authenticated caller, with a Langfuse error body on failure.
fn principal(caller: Result<KeyPairCaller, ApiError>) -> LfResult<Caller> {
    Ok(caller?.0)
}

/// The environments where `v` is live (from the resolve index), plus `latest` if it is.
async fn labels_of(
    caller: &Caller,
    state: &AppState,
    v: &VersionRecord,
    latest: Version,
) -> LfResult<Vec<String>> {
    let reads = state.registry.reads(caller)?;
    let envs = reads.environments().await?;
    let mut labels: Vec<String> = envs
        .iter()
        .filter(|e| reads.live_version(e.name.as_str(), v.name.as_str()) == Some(v.version))
        .map(|e| e.name.to_string())
        .collect();
    if v.version == latest {
        labels.push("latest".into());
    }
    Ok(labels)
}

/// The Langfuse row of a version, with its labels.
async fn full_row(state: &AppState, caller: &Caller, v: VersionRecord) -> LfResult<PromptRow> {
    let latest = state.registry.reads(caller)?.latest(&v.name).await?.version;
    let labels = labels_of(caller, state, &v, latest).await?;
    super::record_prompt(
        v.name.as_str(),
        Some(v.version.get()),
        Some(v.digest.as_str()),
    );
    Ok(wire::row(caller.project.as_str(), v, labels))
}

/// Which version to fetch.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// A version number.
    pub version: Option<String>,
    /// A label: an environment name or `latest` (default `production`).
    pub label: Option<String>,
}

/// One prompt version, by label (default `production`) or version number. `resolve=` is
/// accepted and ignored: promptreg has no composition to resolve.
#[utoipa::path(get, path = "/api/public/v2/prompts/{name}", tag = "langfuse",
    params(("name" = String, Path, description = "Prompt name, percent-encoded"), GetQuery),
    responses((status = 200, body = PromptRow), crate::responses::LangfuseErrors))]
pub async fn get_prompt(
    State(state): State<AppState>,
    caller: Result<KeyPairCaller, ApiError>,
    path: Result<AppPath<String>, ApiError>,
    query: Result<AppQuery<GetQuery>, ApiError>,
) -> LfResult<Json<PromptRow>> {
    let caller = principal(caller)?;
    let name = prompt_name(&path?.0)?;
    let q = query?.0;
    let store = state.registry.reads(&caller)?;
    let record = match (q.version, q.label) {
        (Some(_), Some(_)) => {
            return Err(LangfuseError::invalid(
                "cannot specify both version and label",
            ))
        }
        (Some(v), None) => {
            let v = v
                .parse::<Version>()
                .map_err(|e| LangfuseError::invalid(format!("version: {e}")))?;
            store.version(&name, v).await?
        }
        (None, label) => {
            let label = label.unwrap_or_else(|| "production".into());
            if label == "latest" {
                store.latest(&name).await?
            } else {
                store
                    .live(&label, name.as_str())
                    .await?
                    .map(|live| live.version.clone())
                    .ok_or_else(|| {
                        ApiError::not_found(format!(
                            "prompt '{name}' has no version with label '{label}'"
                        ))
                    })?
            }
        }
    };
    Ok(Json(full_row(&state, &caller, record).await?))
}

/// Filters and paging of the prompt list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this prompt.
    pub name: Option<String>,
    /// Only prompts with a version carrying this label.
    pub label: Option<String>,
    /// Only prompts whose newest version has this tag.
    pub tag: Option<String>,
    /// Page number from 1 (default 1).
    pub page: Option<String>,
    /// Page size 1-100 (default 10).
    pub limit: Option<String>,
}

fn number(field: &str, raw: Option<&str>, default: u64, max: u64) -> LfResult<u64> {
    raw.map_or(Ok(default), |s| {
        s.parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| LangfuseError::invalid(format!("{field}: must be an integer 1-{max}")))
    })
}

/// Prompts by name with their versions and labels, paged by page number.
#[utoipa::path(get, path = "/api/public/v2/prompts", tag = "langfuse", params(ListQuery),
    responses((status = 200, body = PromptMetaList), crate::responses::LangfuseErrors))]
pub async fn list_prompts(
    State(state): State<AppState>,
    caller: Result<KeyPairCaller, ApiError>,
    query: Result<AppQuery<ListQuery>, ApiError>,
) -> LfResult<Json<PromptMetaList>> {
    let caller = principal(caller)?;
    let q = query?.0;
    let page = number("page", q.page.as_deref(), 1, u64::from(u32::MAX))?;
    let limit = number("limit", q.limit.as_deref(), 10, 100)?;
    let reads = state.registry.reads(&caller)?;
    // Filters are exact. A name or label that cannot be stored matches nothing; `latest`
    // is every prompt's.
    let name = q.name.as_deref().map(PromptName::parse).transpose();
    let env = match q.label.as_deref() {
        None | Some("latest") => Ok(None),
        Some(l) => EnvName::parse(l).map(Some),
    };
    let page_of = match (name, env) {
        (Ok(name), Ok(env)) => {
            let query = PromptQuery {
                name,
                env,
                tag: q.tag,
            };
            let offset = (page - 1).saturating_mul(limit);
            // `limit` is at most 100.
            let limit = u32::try_from(limit).unwrap_or(100);
            reads
                .prompt_page(&query, OffsetPage { offset, limit })
                .await?
        }
        _ => PromptPage {
            prompts: Vec::new(),
            total: 0,
        },
    };
    let total = page_of.total;
    let meta = PageMeta {
        page,
        limit,
        total_items: total,
        total_pages: total.div_ceil(limit),
    };
    let data = page_of.prompts.into_iter().map(prompt_meta).collect();
    Ok(Json(PromptMetaList {
        data,
        pagination: meta.clone(),
        meta,
    }))
}

fn prompt_meta(p: PromptRecord<StoredContent>) -> PromptMeta {
    let mut labels: Vec<String> = p.deployed.iter().map(|(e, _)| e.to_string()).collect();
    labels.sort();
    labels.dedup();
    labels.push("latest".into());
    PromptMeta {
        name: p.name.to_string(),
        prompt_type: p.latest.content.prompt_type().as_str(),
        // Version numbers have no gaps: 1 up to the newest.
        versions: (1..=p.latest.version.get()).collect(),
        labels,
        tags: p.latest.metadata.tags.clone(),
        last_updated_at: wire::timestamp(p.latest.created_at),
        // Sealed only when it did not open (reported as an integrity error), pruned never
        // (the newest version always stays): no config then.
        last_config: match &p.latest.content {
            StoredContent::Plain(c) => wire::config(c),
            StoredContent::Sealed { .. } | StoredContent::Pruned { .. } => {
                serde_json::Value::Object(Default::default())
            }
        },
    }
}

/// The caller's project (what the SDK's `auth_check()` reads).
#[utoipa::path(get, path = "/api/public/projects", tag = "langfuse",
    responses((status = 200, body = Projects), crate::responses::LangfuseErrors))]
pub async fn projects(
    State(state): State<AppState>,
    caller: Result<KeyPairCaller, ApiError>,
) -> LfResult<Json<Projects>> {
    let caller = principal(caller)?;
    state.registry.reads(&caller)?;
    Ok(Json(Projects::of(caller.project.as_str())))
}

/// Parses labels as environment names (each once); anything else is a 400 naming it.
fn label_envs(labels: &[String]) -> LfResult<Vec<EnvName>> {
    let mut envs: Vec<EnvName> = Vec::new();
    for label in labels {
        let env = EnvName::parse(label).map_err(|e| {
            LangfuseError::invalid(format!("labels: '{label}' is not a valid label: {e}"))
        })?;
        if !envs.contains(&env) {
            envs.push(env);
        }
    }
    Ok(envs)
}
