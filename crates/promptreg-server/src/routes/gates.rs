//! Validation results (attach, list) and environments' promotion gates (get, set).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::{
    AttachValidation, GateView, GatesView, SetGates, ValidationList, ValidationView,
};
use promptreg_core::gates::{Gate, GateSpec};
use promptreg_core::{EnvName, Version};
use promptreg_store::GatesRecord;

use super::versions::prompt_name;
use super::views;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath};
use crate::registry::NewValidation;

fn env_name(raw: &str) -> Result<EnvName, ApiError> {
    EnvName::parse(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid environment name {raw:?}: {e}")))
}

fn version_number(raw: &str) -> Result<Version, ApiError> {
    raw.parse::<Version>()
        .map_err(|e| ApiError::bad_request(format!("version: {e}")))
}

/// Attaches a validation result to a version. Results never change: attaching again for the
/// same suite adds a newer result, which is the one gates read.
#[utoipa::path(post, path = "/v1/prompts/{name}/versions/{version}/validations", tag = "validations",
    params(("name" = String, Path), ("version" = String, Path, description = "A version number")),
    request_body = AttachValidation,
    responses((status = 201, body = ValidationView, description = "Attached"), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound))]
pub async fn attach(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((name, version)): AppPath<(String, String)>,
    AppJson(body): AppJson<AttachValidation>,
) -> Result<(StatusCode, Json<ValidationView>), ApiError> {
    let name = prompt_name(&name)?;
    let version = version_number(&version)?;
    let input = NewValidation {
        suite: body.suite,
        passed: body.passed,
        metrics: body.metrics,
        details: body.details,
        tool_name: body.tool.name,
        tool_version: body.tool.version,
    };
    let record = state
        .registry
        .attach_validation(&caller, name, version, input)
        .await?;
    Ok((StatusCode::CREATED, Json(views::validation(record))))
}

/// A version's validation results, oldest first.
#[utoipa::path(get, path = "/v1/prompts/{name}/versions/{version}/validations", tag = "validations",
    params(("name" = String, Path), ("version" = String, Path, description = "A version number")),
    responses((status = 200, body = ValidationList), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((name, version)): AppPath<(String, String)>,
) -> Result<Json<ValidationList>, ApiError> {
    let name = prompt_name(&name)?;
    let version = version_number(&version)?;
    let items = state
        .registry
        .validations(&caller, &name, version)
        .await?
        .into_iter()
        .map(views::validation)
        .collect();
    Ok(Json(ValidationList { items }))
}

fn gates_view(r: GatesRecord) -> GatesView {
    GatesView {
        env: r.env.to_string(),
        required_predecessor: r.spec.required_predecessor.map(|e| e.to_string()),
        min_time_in_predecessor: r.spec.min_time_in_predecessor,
        gates: r
            .spec
            .gates
            .into_iter()
            .map(|g| GateView {
                name: g.name,
                expression: g.expression,
            })
            .collect(),
        updated_by: r.updated_by,
        updated_at: r.updated_at,
    }
}

/// An environment's promotion path and gates (empty when never set).
#[utoipa::path(get, path = "/v1/environments/{env}/gates", tag = "environments",
    params(("env" = String, Path)),
    responses((status = 200, body = GatesView), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(env): AppPath<String>,
) -> Result<Json<GatesView>, ApiError> {
    let env = env_name(&env)?;
    Ok(Json(gates_view(state.registry.gates(&caller, &env).await?)))
}

/// Replaces an environment's promotion path and gates (admin). A gate expression that does
/// not compile or names an unknown variable, or a predecessor that does not exist, is the
/// environment itself or closes a loop, is refused (400) and nothing changes.
#[utoipa::path(put, path = "/v1/environments/{env}/gates", tag = "environments",
    params(("env" = String, Path)), request_body = SetGates,
    responses((status = 200, body = GatesView), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound))]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(env): AppPath<String>,
    AppJson(body): AppJson<SetGates>,
) -> Result<Json<GatesView>, ApiError> {
    let env = env_name(&env)?;
    let required_predecessor = body
        .required_predecessor
        .map(|p| {
            EnvName::parse(&p).map_err(|e| {
                ApiError::bad_request(format!(
                    "required_predecessor: {p:?} is not an environment name: {e}"
                ))
            })
        })
        .transpose()?;
    let spec = GateSpec {
        required_predecessor,
        min_time_in_predecessor: body.min_time_in_predecessor,
        gates: body
            .gates
            .into_iter()
            .map(|g| Gate {
                name: g.name,
                expression: g.expression,
            })
            .collect(),
    };
    Ok(Json(gates_view(
        state.registry.set_gates(&caller, env, spec).await?,
    )))
}
