//! Environments and their pointers: create, deploy, roll back, history, catalog.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::{
    CatalogEntry, CreateEnvironment, DeployRequest, DeploymentView, EnvironmentView, Page,
    PageParams, RollbackRequest, UpdateEnvironment,
};
use promptreg_core::{EnvName, PromptName};
use promptreg_store::PageRequest;

use super::versions::prompt_name;
use super::{record_prompt, views};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::paging::{page, page_request, ListKind};
use crate::registry::{not_deployed, Moved};

pub(crate) fn env_name(raw: &str) -> Result<EnvName, ApiError> {
    EnvName::parse(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid environment name {raw:?}: {e}")))
}

/// Longest description or reason accepted.
const MAX_TEXT: usize = 2000;

pub(crate) fn check_text(field: &str, text: &Option<String>) -> Result<(), ApiError> {
    match text {
        Some(t) if t.len() > MAX_TEXT => Err(ApiError::unprocessable(format!(
            "{field}: at most {MAX_TEXT} bytes"
        ))),
        _ => Ok(()),
    }
}

/// Creates an environment.
#[utoipa::path(post, path = "/v1/environments", tag = "environments", request_body = CreateEnvironment,
    responses((status = 201, body = EnvironmentView), crate::responses::Auth, crate::responses::BadBody, crate::responses::Conflict))]
pub async fn create_environment(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateEnvironment>,
) -> Result<(StatusCode, Json<EnvironmentView>), ApiError> {
    let name =
        EnvName::parse(&body.name).map_err(|e| ApiError::unprocessable(format!("name: {e}")))?;
    check_text("description", &body.description)?;
    let env = state
        .registry
        .create_environment(
            &caller,
            name,
            body.protected,
            body.description,
            body.approvals_required,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(views::environment(env))))
}

/// Sets an environment's protection and how many approvals a change request into it needs
/// (admins; recorded as an `environment_updated` event).
#[utoipa::path(patch, path = "/v1/environments/{env}", tag = "environments", params(("env" = String, Path)),
    request_body = UpdateEnvironment,
    responses((status = 200, body = EnvironmentView), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound))]
pub async fn update_environment(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(env): AppPath<String>,
    AppJson(body): AppJson<UpdateEnvironment>,
) -> Result<Json<EnvironmentView>, ApiError> {
    let env = state
        .registry
        .update_environment(
            &caller,
            env_name(&env)?,
            body.protected,
            body.approvals_required,
        )
        .await?;
    Ok(Json(views::environment(env)))
}

/// Environments by name.
#[utoipa::path(get, path = "/v1/environments", tag = "environments", params(PageParams), responses((status = 200, body = Page<EnvironmentView>), crate::responses::Auth, crate::responses::BadRequest))]
pub async fn list_environments(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<Json<Page<EnvironmentView>>, ApiError> {
    let (limit, req) = page_request(&params, ListKind::Environments, |k| EnvName::parse(k).ok())?;
    let all = state.registry.reads(&caller)?.environments().await?;
    let rows: Vec<_> = all
        .into_iter()
        .filter(|e| req.after.as_ref().is_none_or(|a| e.name > *a))
        .take(req.limit as usize)
        .collect();
    Ok(Json(page(
        rows,
        limit,
        ListKind::Environments,
        |e| e.name.to_string(),
        views::environment,
    )))
}

/// One environment.
#[utoipa::path(get, path = "/v1/environments/{env}", tag = "environments", params(("env" = String, Path)),
    responses((status = 200, body = EnvironmentView), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn get_environment(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(env): AppPath<String>,
) -> Result<Json<EnvironmentView>, ApiError> {
    let env = state
        .registry
        .reads(&caller)?
        .environment(&env_name(&env)?)
        .await?;
    Ok(Json(views::environment(env)))
}

fn moved(m: Moved) -> Json<DeploymentView> {
    record_prompt(
        m.record.name.as_str(),
        Some(m.record.to_version.get()),
        Some(m.record.digest.as_str()),
    );
    Json(views::deployment(m.record, Some(m.changed)))
}

pub(crate) fn pointer(env: &str, name: &str) -> Result<(EnvName, PromptName), ApiError> {
    Ok((env_name(env)?, prompt_name(name)?))
}

/// Deploys a version: moves the environment's pointer and records the move.
#[utoipa::path(put, path = "/v1/environments/{env}/prompts/{name}", tag = "deployments",
    params(("env" = String, Path), ("name" = String, Path)), request_body = DeployRequest,
    responses((status = 200, body = DeploymentView), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound,
        (status = 409, body = promptreg_api::ErrorBody, description = "`approval_required` (a protected environment: ask with POST /v1/change-requests, or an admin's `break_glass`), `rollout_in_progress`, `gate_failed`, `predecessor_required`, `integrity_error`"),
        (status = 410, body = promptreg_api::ErrorBody, description = "`pruned`: the version's content was pruned")))]
pub async fn deploy(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((env, name)): AppPath<(String, String)>,
    AppJson(body): AppJson<DeployRequest>,
) -> Result<Json<DeploymentView>, ApiError> {
    let (env, name) = pointer(&env, &name)?;
    check_text("reason", &body.reason)?;
    Ok(moved(
        state
            .registry
            .deploy(
                &caller,
                env,
                name,
                body.version,
                body.reason,
                body.break_glass,
            )
            .await?,
    ))
}

/// The record that made the live version live.
#[utoipa::path(get, path = "/v1/environments/{env}/prompts/{name}", tag = "deployments",
    params(("env" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = DeploymentView), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn get_deployment(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((env, name)): AppPath<(String, String)>,
) -> Result<Json<DeploymentView>, ApiError> {
    let (env, name) = pointer(&env, &name)?;
    let reads = state.registry.reads(&caller)?;
    let last = reads.history(&env, &name, &PageRequest::first(1)).await?;
    let Some(record) = last.into_iter().next() else {
        // Say which is missing: the prompt, or a deployment of it here.
        reads.latest(&name).await?;
        return Err(not_deployed(name.as_str(), env.as_str()).into());
    };
    Ok(Json(views::deployment(record, None)))
}

/// Rolls back to the previously live version (or to `to_version`, live earlier).
#[utoipa::path(post, path = "/v1/environments/{env}/prompts/{name}/rollback", tag = "deployments",
    params(("env" = String, Path), ("name" = String, Path)), request_body = RollbackRequest,
    responses((status = 200, body = DeploymentView), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound,
        (status = 409, body = promptreg_api::ErrorBody, description = "`nothing_to_roll_back`, or the environment is protected")))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((env, name)): AppPath<(String, String)>,
    OptionalJson(body): OptionalJson<RollbackRequest>,
) -> Result<Json<DeploymentView>, ApiError> {
    let (env, name) = pointer(&env, &name)?;
    check_text("reason", &body.reason)?;
    Ok(moved(
        state
            .registry
            .rollback(&caller, env, name, body.to_version, body.reason)
            .await?,
    ))
}

/// Deployment records of one pointer, newest first.
#[utoipa::path(get, path = "/v1/environments/{env}/prompts/{name}/history", tag = "deployments",
    params(("env" = String, Path), ("name" = String, Path), PageParams), responses((status = 200, body = Page<DeploymentView>), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((env, name)): AppPath<(String, String)>,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<Json<Page<DeploymentView>>, ApiError> {
    let (env, name) = pointer(&env, &name)?;
    let (limit, req) = page_request(&params, ListKind::History, |k| k.parse::<i64>().ok())?;
    let rows = state
        .registry
        .reads(&caller)?
        .history(&env, &name, &req)
        .await?;
    Ok(Json(page(
        rows,
        limit,
        ListKind::History,
        |r| r.seq.to_string(),
        |r| views::deployment(r, None),
    )))
}

/// Every prompt deployed in an environment with its version and digest.
#[utoipa::path(get, path = "/v1/environments/{env}/catalog", tag = "deployments",
    params(("env" = String, Path), PageParams), responses((status = 200, body = Page<CatalogEntry>), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn catalog(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(env): AppPath<String>,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<Json<Page<CatalogEntry>>, ApiError> {
    let env = env_name(&env)?;
    let (limit, req) = page_request(&params, ListKind::Catalog, |k| PromptName::parse(k).ok())?;
    let rows = state.registry.reads(&caller)?.catalog(&env, &req).await?;
    Ok(Json(page(
        rows,
        limit,
        ListKind::Catalog,
        |r| r.name.to_string(),
        views::catalog,
    )))
}
