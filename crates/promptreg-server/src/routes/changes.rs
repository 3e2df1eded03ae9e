//! Change requests: ask for a deploy into a protected environment, review it, apply it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::{
    AppliedChange, ChangeRequestView, ChangeReviewView, CreateChangeRequest, Page, PageParams,
    ReviewChangeRequest,
};
use promptreg_core::change::{ChangeStatus, Verdict};
use promptreg_store::{ChangeRequestFilter, ChangeRequestRecord};

use super::environments::{check_text, env_name};
use super::versions::prompt_name;
use super::views;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::paging::{page, page_request, ListKind};

/// A change request on the wire, its status as of `now`.
fn view(
    r: ChangeRequestRecord,
    required: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> ChangeRequestView {
    let status = r.status.effective(r.expires_at, now);
    let (mut approvals, mut rejections) = (Vec::new(), Vec::new());
    for review in r.reviews {
        let v = ChangeReviewView {
            reviewer: review.reviewer,
            verdict: review.verdict.as_str().into(),
            comment: review.comment,
            at: review.at,
        };
        match review.verdict {
            Verdict::Approve => approvals.push(v),
            Verdict::Reject => rejections.push(v),
        }
    }
    ChangeRequestView {
        id: r.id,
        env: r.env.to_string(),
        prompt: r.name.to_string(),
        version: r.version,
        digest: r.digest.to_string(),
        reason: r.reason,
        status: status.as_str().into(),
        requested_by: r.requested_by,
        version_author: r.author,
        approvals_required: required,
        approvals,
        rejections,
        created_at: r.created_at,
        expires_at: r.expires_at,
        applied_at: r.applied_at,
        applied_by: r.applied_by,
        rollout: r.rollout,
    }
}

/// Opens a change request to deploy a version into a protected environment.
#[utoipa::path(post, path = "/v1/change-requests", tag = "change-requests", request_body = CreateChangeRequest,
    responses((status = 201, body = ChangeRequestView), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound,
        (status = 409, body = promptreg_api::ErrorBody, description = "`approval_not_needed`: the environment is not protected"),
        (status = 410, body = promptreg_api::ErrorBody, description = "`pruned`: the version's content was pruned")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateChangeRequest>,
) -> Result<(StatusCode, Json<ChangeRequestView>), ApiError> {
    let env = promptreg_core::EnvName::parse(&body.env)
        .map_err(|e| ApiError::unprocessable(format!("env: {e}")))?;
    let name = promptreg_core::PromptName::parse(&body.prompt)
        .map_err(|e| ApiError::unprocessable(format!("prompt: {e}")))?;
    check_text("reason", &Some(body.reason.clone()))?;
    let r = state
        .registry
        .request_change(&caller, env, name, body.version, body.reason)
        .await?;
    let (r, env) = state.registry.change_request(&caller, &r.id).await?;
    let now = state.registry.now();
    Ok((
        StatusCode::CREATED,
        Json(view(r, env.approvals_required, now)),
    ))
}

/// `GET /v1/change-requests` query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeRequestsQuery {
    /// Only requests in this status (`pending`, `approved`, `rejected`, `applied`, `expired`).
    pub status: Option<String>,
    /// Only this environment.
    pub env: Option<String>,
    /// Only this prompt.
    pub prompt: Option<String>,
    /// 1-500, default 50.
    pub limit: Option<String>,
    /// An opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Change requests, newest first.
#[utoipa::path(get, path = "/v1/change-requests", tag = "change-requests", params(ChangeRequestsQuery),
    responses((status = 200, body = Page<ChangeRequestView>), crate::responses::Auth, crate::responses::BadRequest))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<ChangeRequestsQuery>,
) -> Result<Json<Page<ChangeRequestView>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            ChangeStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status: unknown status '{s}' (pending, approved, rejected, applied or expired)"
                ))
            })
        })
        .transpose()?;
    let filter = ChangeRequestFilter {
        status,
        env: q.env.as_deref().map(env_name).transpose()?,
        name: q.prompt.as_deref().map(prompt_name).transpose()?,
        now: state.registry.now(),
    };
    let params = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (limit, req) = page_request(&params, ListKind::ChangeRequests, |k| Some(k.to_owned()))?;
    let rows = state
        .registry
        .change_requests(&caller, filter, &req)
        .await?;
    let now = state.registry.now();
    Ok(Json(page(
        rows,
        limit,
        ListKind::ChangeRequests,
        |(r, _)| r.id.clone(),
        |(r, required)| view(r, required, now),
    )))
}

/// One change request.
#[utoipa::path(get, path = "/v1/change-requests/{id}", tag = "change-requests", params(("id" = String, Path)),
    responses((status = 200, body = ChangeRequestView), crate::responses::Auth, crate::responses::NotFound))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<ChangeRequestView>, ApiError> {
    let (r, env) = state.registry.change_request(&caller, &id).await?;
    Ok(Json(view(r, env.approvals_required, state.registry.now())))
}

async fn review(
    state: &AppState,
    caller: &Caller,
    id: &str,
    verdict: Verdict,
    body: ReviewChangeRequest,
) -> Result<Json<ChangeRequestView>, ApiError> {
    check_text("comment", &body.comment)?;
    state
        .registry
        .review_change(caller, id, verdict, body.comment)
        .await?;
    let (r, env) = state.registry.change_request(caller, id).await?;
    Ok(Json(view(r, env.approvals_required, state.registry.now())))
}

/// Approves a change request (not your own, nor one for a version you wrote).
#[utoipa::path(post, path = "/v1/change-requests/{id}/approve", tag = "change-requests", params(("id" = String, Path)),
    request_body = ReviewChangeRequest,
    responses((status = 200, body = ChangeRequestView), crate::responses::BadBody, crate::responses::NotFound,
        (status = 401, body = promptreg_api::ErrorBody, description = "Missing or invalid credentials (`unauthorized`)"),
        (status = 403, body = promptreg_api::ErrorBody, description = "`forbidden`: the role may not review, or you requested this change or wrote its version (the two-person rule)"),
        (status = 409, body = promptreg_api::ErrorBody, description = "`already_reviewed`, or the request is over (`change_request_rejected`, `change_request_applied`, `change_request_expired`)")))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    OptionalJson(body): OptionalJson<ReviewChangeRequest>,
) -> Result<Json<ChangeRequestView>, ApiError> {
    review(&state, &caller, &id, Verdict::Approve, body).await
}

/// Rejects a change request (a comment is required); any eligible reviewer's rejection is final.
#[utoipa::path(post, path = "/v1/change-requests/{id}/reject", tag = "change-requests", params(("id" = String, Path)),
    request_body = ReviewChangeRequest,
    responses((status = 200, body = ChangeRequestView), crate::responses::BadBody, crate::responses::NotFound,
        (status = 401, body = promptreg_api::ErrorBody, description = "Missing or invalid credentials (`unauthorized`)"),
        (status = 403, body = promptreg_api::ErrorBody, description = "`forbidden`: the role may not review, or you requested this change or wrote its version (the two-person rule)"),
        (status = 409, body = promptreg_api::ErrorBody, description = "`already_reviewed`, or the request is over (`change_request_rejected`, `change_request_applied`, `change_request_expired`)")))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    OptionalJson(body): OptionalJson<ReviewChangeRequest>,
) -> Result<Json<ChangeRequestView>, ApiError> {
    review(&state, &caller, &id, Verdict::Reject, body).await
}

/// Applies an approved change request: deploys its version and marks it applied, in one
/// unit of work.
#[utoipa::path(post, path = "/v1/change-requests/{id}/apply", tag = "change-requests", params(("id" = String, Path)),
    responses((status = 200, body = AppliedChange), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound,
        (status = 409, body = promptreg_api::ErrorBody, description = "`change_request_pending` (not enough approvals), `change_request_rejected`, `change_request_applied`, `change_request_expired`, `rollout_in_progress`")))]
pub async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<AppliedChange>, ApiError> {
    let (_, moved) = state.registry.apply_change(&caller, &id).await?;
    let (r, env) = state.registry.change_request(&caller, &id).await?;
    let now = state.registry.now();
    Ok(Json(AppliedChange {
        change_request: view(r, env.approvals_required, now),
        deployment: views::deployment(moved.record, Some(moved.changed)),
    }))
}
