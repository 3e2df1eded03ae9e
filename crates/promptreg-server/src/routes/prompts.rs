//! Prompts: list, one prompt, diff between versions.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use promptreg_api::{DiffView, Page, PageParams, PromptSummary, ValidatedIn};
use promptreg_core::diff::{diff, DiffSide};
use promptreg_core::{EnvName, PromptName, Version};
use promptreg_store::{PageRequest, PromptFilter, ValidatedQuery, VersionFilter};
use serde::Deserialize;

use super::versions::prompt_name;
use super::views;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppPath, AppQuery};
use crate::paging::{page, page_request, ListKind};

/// Filters of the prompt list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromptQuery {
    /// Page size, 1-500.
    pub limit: Option<String>,
    /// Opaque cursor.
    pub cursor: Option<String>,
    /// Only names starting with this (literal), e.g. `support/`.
    pub prefix: Option<String>,
    /// Only prompts whose latest version has this tag.
    pub tag: Option<String>,
    /// Only prompts with a version whose newest result for this suite passed; each item's
    /// `validated` names the newest such version.
    pub validated: Option<String>,
    /// With `validated`: only prompts whose validated version is not what this environment
    /// serves now (the candidates to promote there).
    pub env: Option<String>,
}

/// Prompts by name, each with its latest version and where it is deployed; with
/// `validated=<suite>` (and `env`), the prompts validated by that suite (and not yet served
/// there).
#[utoipa::path(get, path = "/v1/prompts", tag = "prompts", params(PromptQuery), responses((status = 200, body = Page<PromptSummary>), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn list_prompts(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<PromptQuery>,
) -> Result<Json<Page<PromptSummary>>, ApiError> {
    let params = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (limit, req) = page_request(&params, ListKind::Prompts, |k| PromptName::parse(k).ok())?;
    if let Some(suite) = q.validated {
        if q.prefix.is_some() || q.tag.is_some() {
            return Err(ApiError::bad_request(
                "validated: cannot be combined with prefix or tag",
            ));
        }
        return validated(&state, &caller, suite, q.env, limit, req).await;
    }
    if q.env.is_some() {
        return Err(ApiError::bad_request("env: only with validated=<suite>"));
    }
    let filter = PromptFilter {
        prefix: q.prefix.filter(|p| !p.is_empty()),
        tag: q.tag,
    };
    let rows = state
        .registry
        .reads(&caller)?
        .prompts(&filter, &req)
        .await?;
    Ok(Json(page(
        rows,
        limit,
        ListKind::Prompts,
        |r| r.name.to_string(),
        views::prompt,
    )))
}

/// `?validated=<suite>[&env=]`: one query for the page of validated prompts, then each one's
/// summary (as the plain list reads each prompt's deployments).
async fn validated(
    state: &AppState,
    caller: &Caller,
    suite: String,
    env: Option<String>,
    limit: u32,
    req: PageRequest<PromptName>,
) -> Result<Json<Page<PromptSummary>>, ApiError> {
    let env = env
        .map(|e| {
            EnvName::parse(&e).map_err(|err| {
                ApiError::bad_request(format!("env: {e:?} is not an environment name: {err}"))
            })
        })
        .transpose()?;
    let query = ValidatedQuery {
        suite: suite.clone(),
        env: env.clone(),
    };
    let rows = state
        .registry
        .validated_prompts(caller, &query, &req)
        .await?;
    let reads = state.registry.reads(caller)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let filter = PromptFilter {
            prefix: Some(row.name.to_string()),
            tag: None,
        };
        let found = reads
            .prompts(&filter, &PageRequest::first(1))
            .await?
            .into_iter()
            .find(|p| p.name == row.name);
        let Some(found) = found else { continue };
        let mut summary = views::prompt(found);
        summary.validated = Some(ValidatedIn {
            suite: suite.clone(),
            version: row.version,
            digest: row.digest.to_string(),
            validation_id: row.validation_id,
            attached_at: row.attached_at,
            env: env.as_ref().map(ToString::to_string),
            env_version: row.env_version,
        });
        items.push(summary);
    }
    Ok(Json(page(
        items,
        limit,
        ListKind::Prompts,
        |r| r.name.to_string(),
        |r| r,
    )))
}

/// One prompt's summary.
#[utoipa::path(get, path = "/v1/prompts/{name}", tag = "prompts", params(("name" = String, Path)),
    responses((status = 200, body = PromptSummary), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn get_prompt(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(name): AppPath<String>,
) -> Result<Json<PromptSummary>, ApiError> {
    let name = prompt_name(&name)?;
    // The prompt list is keyset-paged by name, so the page starting just before `name` holds it.
    let filter = PromptFilter {
        prefix: Some(name.to_string()),
        tag: None,
    };
    let rows = state
        .registry
        .reads(&caller)?
        .prompts(&filter, &PageRequest::first(1))
        .await?;
    let found = rows
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::not_found(format!("prompt '{name}' not found")))?;
    Ok(Json(views::prompt(found)))
}

/// Diff query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// Older version (default: the one before `to`).
    pub from: Option<String>,
    /// Newer version (default: the latest).
    pub to: Option<String>,
}

fn version_param(name: &str, raw: Option<String>) -> Result<Option<Version>, ApiError> {
    raw.map(|s| {
        s.parse::<Version>()
            .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
    })
    .transpose()
}

/// A unified diff of the content of two versions plus the changed metadata fields.
#[utoipa::path(get, path = "/v1/prompts/{name}/diff", tag = "prompts", params(("name" = String, Path), DiffQuery),
    responses((status = 200, body = DiffView), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound, crate::responses::Unprocessable, crate::responses::Unreadable))]
pub async fn diff_versions(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<DiffQuery>,
) -> Result<Response, ApiError> {
    let name = prompt_name(&name)?;
    let store = state.registry.reads(&caller)?;
    let to = match version_param("to", q.to)? {
        Some(v) => store.version(&name, v).await?,
        None => store.latest(&name).await?,
    };
    let from = match version_param("from", q.from)? {
        Some(v) => store.version(&name, v).await?,
        None => {
            let before = store
                .versions(
                    &name,
                    &VersionFilter::default(),
                    &PageRequest {
                        limit: 1,
                        after: Some(to.version),
                    },
                )
                .await?;
            let before = before.into_iter().next().ok_or_else(|| {
                ApiError::not_found(format!(
                    "prompt '{name}' has no version before {}",
                    to.version
                ))
            })?;
            crate::registry::listed_content(before)?
        }
    };
    // A line diff, and the JSON of a large one, is CPU work (bounded, but up to a second on
    // large versions): keep it off the async threads so that resolves never queue behind it.
    let body = tokio::task::spawn_blocking(move || {
        let d = diff(name.as_str(), side(&from), side(&to));
        serde_json::to_vec(&DiffView {
            name: name.to_string(),
            from: from.version,
            to: to.version,
            from_digest: from.digest.to_string(),
            to_digest: to.digest.to_string(),
            diff: d.unified,
            changed_fields: d
                .changed_fields
                .into_iter()
                .map(|f| serde_json::to_value(f).unwrap_or_default())
                .collect(),
            approximate: d.approximate,
            truncated: d.truncated,
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn side(v: &promptreg_store::VersionRecord) -> DiffSide<'_> {
    DiffSide {
        version: v.version,
        content: &v.content,
        commit_message: v.commit_message.as_deref(),
        metadata: &v.metadata,
    }
}
