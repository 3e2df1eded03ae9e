//! Rollouts: start one per (environment, prompt), read them, and the commands people give.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::{Page, PageParams, RolloutCommandRequest, RolloutView, StartRollout};
use promptreg_core::rollout::{RolloutSpec, Status};
use promptreg_store::{PageRequest, RolloutFilter, RolloutRecord};
use serde::Deserialize;

use super::environments::{check_text, pointer};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::paging::{page, page_request, ListKind};
use crate::registry::{RolloutCommand, RolloutStart};

/// The last result of each analysis in the controller's memory (`background`, and `step`
/// for the analysis gating the current step), with when it was judged.
fn analysis_results(memory: &serde_json::Value) -> serde_json::Value {
    let mut results = serde_json::Map::new();
    for kind in ["background", "step"] {
        if let Some(result) = memory.get(kind).and_then(|j| j.get("result")) {
            if !result.is_null() {
                results.insert(
                    kind.to_owned(),
                    serde_json::json!({"result": result, "at": memory[kind]["at"]}),
                );
            }
        }
    }
    serde_json::Value::Object(results)
}

/// The view of a rollout record.
pub fn view(r: RolloutRecord) -> RolloutView {
    let analysis = &r.analysis;
    RolloutView {
        strategy_name: r.spec.strategy_name().to_owned(),
        strategy: serde_json::to_value(&r.spec.strategy).unwrap_or_default(),
        analysis: r
            .spec
            .analysis
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok()),
        steps_total: u32::try_from(r.spec.steps().len()).unwrap_or(u32::MAX),
        status: r.state.status.as_str().to_owned(),
        paused_reason: r
            .state
            .paused
            .filter(|_| r.state.status == Status::Paused)
            .and_then(|p| serde_json::to_value(p).ok())
            .and_then(|v| v.as_str().map(str::to_owned)),
        step: r.state.step,
        weight: r.state.weight,
        step_started_at: r.state.step_started_at,
        switched: r.state.switched,
        analysis_skipped: r.state.analysis_skipped,
        arms: analysis
            .get("arms")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({})),
        analysis_results: analysis_results(analysis),
        id: r.id,
        env: r.env.to_string(),
        name: r.name.to_string(),
        stable_version: r.stable_version,
        stable_digest: r.stable_digest.to_string(),
        candidate_version: r.candidate_version,
        candidate_digest: r.candidate_digest.to_string(),
        reason: r.reason,
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
        revision: r.revision,
    }
}

/// Starts a rollout of `candidate` from the version live in the environment.
#[utoipa::path(post, path = "/v1/environments/{env}/prompts/{name}/rollouts", tag = "rollouts",
    params(("env" = String, Path), ("name" = String, Path)), request_body = StartRollout,
    responses((status = 201, body = RolloutView), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound,
        (status = 409, body = promptreg_api::ErrorBody, description = "`rollout_in_progress`, `candidate_is_stable`, `not_deployed`, `approval_required` (a protected environment without `change_request`), `change_request_mismatch`, or the change request is not approved (`change_request_pending`, `_rejected`, `_applied`, `_expired`)")))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((env, name)): AppPath<(String, String)>,
    AppJson(body): AppJson<StartRollout>,
) -> Result<(StatusCode, Json<RolloutView>), ApiError> {
    let (env, name) = pointer(&env, &name)?;
    check_text("reason", &body.reason)?;
    let spec = RolloutSpec::parse(&body.strategy, body.analysis.as_ref())
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let record = state
        .registry
        .start_rollout(
            &caller,
            env,
            name,
            RolloutStart {
                candidate: body.candidate,
                spec,
                reason: body.reason,
                change_request: body.change_request,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(record))))
}

/// Rollouts of one pointer, newest first.
#[utoipa::path(get, path = "/v1/environments/{env}/prompts/{name}/rollouts", tag = "rollouts",
    params(("env" = String, Path), ("name" = String, Path), PageParams),
    responses((status = 200, body = Page<RolloutView>), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn list_for_pointer(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((env, name)): AppPath<(String, String)>,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<Json<Page<RolloutView>>, ApiError> {
    let (env, name) = pointer(&env, &name)?;
    let filter = RolloutFilter {
        env: Some(env),
        name: Some(name),
        status: None,
    };
    list(&state, &caller, &filter, &params).await
}

/// Query of `GET /v1/rollouts`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RolloutsQuery {
    /// Only rollouts in this state (`progressing`, `paused`, `promoted`, `aborted`, `rolled_back`).
    pub status: Option<String>,
    /// 1-500, default 50.
    pub limit: Option<String>,
    /// An opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Every rollout of the project, newest first.
#[utoipa::path(get, path = "/v1/rollouts", tag = "rollouts", params(RolloutsQuery),
    responses((status = 200, body = Page<RolloutView>), crate::responses::Auth, crate::responses::BadRequest))]
pub async fn list_all(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<RolloutsQuery>,
) -> Result<Json<Page<RolloutView>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status: unknown status '{s}' (progressing, paused, promoted, aborted or rolled_back)"
                ))
            })
        })
        .transpose()?;
    let filter = RolloutFilter {
        status,
        ..Default::default()
    };
    let params = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    list(&state, &caller, &filter, &params).await
}

async fn list(
    state: &AppState,
    caller: &Caller,
    filter: &RolloutFilter,
    params: &PageParams,
) -> Result<Json<Page<RolloutView>>, ApiError> {
    let (limit, req): (u32, PageRequest<String>) =
        page_request(params, ListKind::Rollouts, |k| Some(k.to_owned()))?;
    let rows = state.registry.reads(caller)?.rollouts(filter, &req).await?;
    Ok(Json(page(
        rows,
        limit,
        ListKind::Rollouts,
        |r| r.id.clone(),
        view,
    )))
}

/// The pointer's rollout in progress (404 `no_active_rollout` when there is none).
#[utoipa::path(get, path = "/v1/environments/{env}/prompts/{name}/rollouts/current", tag = "rollouts",
    params(("env" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = RolloutView), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn current(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((env, name)): AppPath<(String, String)>,
) -> Result<Json<RolloutView>, ApiError> {
    let (env, name) = pointer(&env, &name)?;
    let reads = state.registry.reads(&caller)?;
    for status in [Status::Progressing, Status::Paused] {
        let filter = RolloutFilter {
            env: Some(env.clone()),
            name: Some(name.clone()),
            status: Some(status),
        };
        if let Some(r) = reads.rollouts(&filter, &PageRequest::first(1)).await?.pop() {
            return Ok(Json(view(r)));
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no_active_rollout",
        format!("prompt '{name}' has no rollout in progress in environment '{env}'"),
    ))
}

/// One rollout with its state, step, weight, per-arm counts and last analysis results.
#[utoipa::path(get, path = "/v1/rollouts/{id}", tag = "rollouts", params(("id" = String, Path)),
    responses((status = 200, body = RolloutView), crate::responses::Auth, crate::responses::NotFound))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<RolloutView>, ApiError> {
    Ok(Json(view(
        state.registry.reads(&caller)?.rollout(&id).await?,
    )))
}

async fn command(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: RolloutCommandRequest,
    command: impl FnOnce(&RolloutCommandRequest) -> RolloutCommand,
) -> Result<Json<RolloutView>, ApiError> {
    check_text("reason", &body.reason)?;
    let command = command(&body);
    if body.full.is_some() && !matches!(command, RolloutCommand::Promote { .. }) {
        return Err(ApiError::unprocessable("full: only promote takes it"));
    }
    let record = state
        .registry
        .command_rollout(caller, id, command, body.reason)
        .await?;
    Ok(Json(view(record)))
}

macro_rules! command_route {
    ($fn:ident, $path:literal, $doc:literal, $make:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "rollouts", params(("id" = String, Path)), request_body = Option<RolloutCommandRequest>,
            responses((status = 200, body = RolloutView), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound,
                (status = 409, body = promptreg_api::ErrorBody, description = "`rollout_finished` or `invalid_rollout_state`")))]
        pub async fn $fn(
            State(state): State<AppState>,
            caller: Caller,
            AppPath(id): AppPath<String>,
            OptionalJson(body): OptionalJson<RolloutCommandRequest>,
        ) -> Result<Json<RolloutView>, ApiError> {
            command(&state, &caller, &id, body, $make).await
        }
    };
}

command_route!(
    promote,
    "/v1/rollouts/{id}/promote",
    "Completes the current step (`full`: makes the candidate live now).",
    |b: &RolloutCommandRequest| RolloutCommand::Promote {
        full: b.full.unwrap_or(false)
    }
);
command_route!(
    pause,
    "/v1/rollouts/{id}/pause",
    "Pauses where it is (the current weight keeps being served).",
    |_: &RolloutCommandRequest| RolloutCommand::Pause
);
command_route!(
    resume,
    "/v1/rollouts/{id}/resume",
    "Resumes a paused rollout (at a pause step or an approval, completes it).",
    |_: &RolloutCommandRequest| RolloutCommand::Resume
);
command_route!(
    abort,
    "/v1/rollouts/{id}/abort",
    "Aborts: stable serves everyone again.",
    |_: &RolloutCommandRequest| RolloutCommand::Abort
);
command_route!(
    skip_analysis,
    "/v1/rollouts/{id}/skip-analysis",
    "Skips analysis for the rest of the rollout (recorded; admin only).",
    |_: &RolloutCommandRequest| RolloutCommand::SkipAnalysis
);
