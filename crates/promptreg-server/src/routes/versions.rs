//! Versions: create (idempotent by digest), list, get; never modify.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::{CreateVersion, Page, PageParams, VersionView};
use promptreg_core::{PromptName, Version};
use promptreg_store::VersionFilter;
use serde::Deserialize;

use super::{record_prompt, views};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::paging::{page, page_request, ListKind};

/// Parses a prompt name from the path.
pub(crate) fn prompt_name(raw: &str) -> Result<PromptName, ApiError> {
    PromptName::parse(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid prompt name {raw:?}: {e}")))
}

/// Creates the next version of a prompt; same content as the latest creates nothing (200).
#[utoipa::path(post, path = "/v1/prompts/{name}/versions", tag = "versions",
    params(("name" = String, Path, description = "Prompt name, percent-encoded (`support%2Ftriage`)")),
    request_body = CreateVersion,
    responses((status = 201, body = VersionView, description = "Created"), (status = 200, body = VersionView, description = "Same content as the latest version: nothing created"),
        crate::responses::Auth, crate::responses::BadBody, crate::responses::Conflict))]
pub async fn create_version(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(name): AppPath<String>,
    AppJson(body): AppJson<CreateVersion>,
) -> Result<(StatusCode, Json<VersionView>), ApiError> {
    let name = prompt_name(&name)?;
    let created = state.registry.publish(&caller, name, body).await?;
    let v = &created.version;
    record_prompt(
        v.name.as_str(),
        Some(v.version.get()),
        Some(v.digest.as_str()),
    );
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(views::version(created.version, Some(created.created))),
    ))
}

/// Filters of the version list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// Page size, 1-500.
    pub limit: Option<String>,
    /// Opaque cursor.
    pub cursor: Option<String>,
    /// Only versions with this tag.
    pub tag: Option<String>,
    /// Only versions compatible with this agent type (`limit=1` gives the latest compatible).
    pub agent_type: Option<String>,
}

/// Versions of a prompt, newest first.
#[utoipa::path(get, path = "/v1/prompts/{name}/versions", tag = "versions",
    params(("name" = String, Path, description = "Prompt name"), VersionQuery),
    responses((status = 200, body = Page<VersionView>), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound,
        (status = 409, body = promptreg_api::ErrorBody, description = "A version of the page does not verify (`integrity_error`, naming it)")))]
pub async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<VersionQuery>,
) -> Result<Json<Page<VersionView>>, ApiError> {
    let name = prompt_name(&name)?;
    let params = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (limit, req) = page_request(&params, ListKind::Versions, |k| k.parse::<Version>().ok())?;
    let filter = VersionFilter {
        tag: q.tag,
        agent_type: q.agent_type,
    };
    let rows = state
        .registry
        .reads(&caller)?
        .versions(&name, &filter, &req)
        .await?;
    Ok(Json(page(
        rows,
        limit,
        ListKind::Versions,
        |r| r.version.to_string(),
        views::listed,
    )))
}

/// One version (`latest` for the newest).
#[utoipa::path(get, path = "/v1/prompts/{name}/versions/{version}", tag = "versions",
    params(("name" = String, Path), ("version" = String, Path, description = "A version number or `latest`")),
    responses((status = 200, body = VersionView), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound, crate::responses::Unreadable))]
pub async fn get_version(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((name, version)): AppPath<(String, String)>,
) -> Result<Json<VersionView>, ApiError> {
    let name = prompt_name(&name)?;
    let store = state.registry.reads(&caller)?;
    let record = if version == "latest" {
        store.latest(&name).await?
    } else {
        let v = version
            .parse::<Version>()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        store.version(&name, v).await?
    };
    // The newest result of each suite (results come oldest first).
    let mut newest = std::collections::BTreeMap::new();
    for v in state
        .registry
        .validations(&caller, &record.name, record.version)
        .await?
    {
        newest.insert(v.suite.clone(), views::validation(v));
    }
    let mut view = views::version(record, None);
    view.validations = Some(newest.into_values().collect());
    Ok(Json(view))
}

/// Versions are immutable: `PUT`, `PATCH` and `DELETE` answer 405.
#[utoipa::path(put, path = "/v1/prompts/{name}/versions/{version}", tag = "versions",
    params(("name" = String, Path), ("version" = String, Path)),
    responses((status = 405, body = promptreg_api::ErrorBody, description = "Versions never change")))]
pub async fn immutable_version() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "immutable",
        "versions are immutable: push a new version instead of modifying one",
    )
}
