//! Webhooks: create (secret shown once), list, read, delete, the delivery history; and the
//! inbound abort hook for external alerting (by rollout id, by pointer, or Alertmanager).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::{
    AbortedRollout, CreateWebhook, DeliveryView, InboundAbort, InboundAbortResult, Page,
    PageParams, SkippedAlert, WebhookCreated, WebhookView,
};
use promptreg_store::{DeliveryRecord, WebhookRecord};

use super::environments::{check_text, pointer};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::paging::{page, page_request, ListKind};
use crate::registry::AbortTarget;

fn view(w: WebhookRecord) -> WebhookView {
    WebhookView {
        id: w.id,
        url: w.url,
        events: w.events,
        description: w.description,
        created_by: w.created_by,
        created_at: w.created_at,
        cursor: w.cursor,
    }
}

fn delivery(d: DeliveryRecord) -> DeliveryView {
    DeliveryView {
        seq: d.seq,
        event: d.event,
        status: d.status.as_str().to_owned(),
        attempts: d.attempts,
        response_code: d.response_code,
        error: d.error,
        first_attempt_at: d.first_attempt_at,
        last_attempt_at: d.last_attempt_at,
        next_attempt_at: d.next_attempt_at,
        duration_ms: d.duration_ms,
    }
}

/// Subscribes a URL to the project's changes; the signing secret is in this answer only.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = WebhookCreated), crate::responses::Auth, crate::responses::BadBody))]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateWebhook>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let record = state
        .registry
        .create_webhook(
            &caller,
            &body.url,
            &body.events.unwrap_or_default(),
            body.description,
        )
        .await?;
    let secret = record.secret.clone();
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated {
            webhook: view(record),
            secret,
        }),
    ))
}

/// The project's webhooks, oldest first, without secrets.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = Page<WebhookView>), crate::responses::Auth))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Page<WebhookView>>, ApiError> {
    let items = state.registry.webhooks(&caller).await?;
    Ok(Json(Page {
        items: items.into_iter().map(view).collect(),
        next_cursor: None,
    }))
}

/// One webhook.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookView), crate::responses::Auth, crate::responses::NotFound))]
pub async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(view(state.registry.webhook(&caller, &id).await?)))
}

/// Deletes a webhook and its delivery history.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), crate::responses::Auth, crate::responses::NotFound))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.registry.delete_webhook(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's deliveries, newest event first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = Page<DeliveryView>), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    let (limit, req) = page_request(&params, ListKind::Deliveries, |k| k.parse().ok())?;
    let rows = state.registry.deliveries(&caller, &id, &req).await?;
    Ok(Json(page(
        rows,
        limit,
        ListKind::Deliveries,
        |d| d.seq.to_string(),
        delivery,
    )))
}

/// Aborts rollouts for an external alerting system: `{"rollout", "reason"}`,
/// `{"env", "prompt", "reason"}`, or an Alertmanager webhook payload (each firing alert aborts
/// the rollout its labels name: `rollout`, or `prompt` and `env`).
#[utoipa::path(post, path = "/v1/hooks/abort", tag = "webhooks", request_body = InboundAbort,
    responses((status = 200, body = InboundAbortResult), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound,
        (status = 409, body = promptreg_api::ErrorBody, description = "`rollout_finished`")))]
pub async fn abort_hook(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<InboundAbort>,
) -> Result<Json<InboundAbortResult>, ApiError> {
    state.registry.check_abort_hook(&caller)?;
    check_text("reason", &body.reason)?;
    let mut result = InboundAbortResult::default();
    if let Some(alerts) = body.alerts {
        for (index, alert) in alerts.into_iter().enumerate() {
            let name = alert.labels.get("alertname").cloned();
            let skip = |code: &str, message: String| SkippedAlert {
                index,
                alert: name.clone(),
                code: code.to_owned(),
                message,
            };
            if alert.status != "firing" {
                result
                    .skipped
                    .push(skip("resolved", "only firing alerts abort".into()));
                continue;
            }
            let labels = &alert.labels;
            let target = named_target(
                labels.get("rollout").cloned(),
                labels.get("env").cloned(),
                labels.get("prompt").cloned(),
            );
            let target = match target {
                Ok(Some(t)) => t,
                Ok(None) => {
                    result.skipped.push(skip(
                        "no_target",
                        "labels name no rollout (`rollout`, or `prompt` and `env`)".into(),
                    ));
                    continue;
                }
                Err(e) => {
                    result.skipped.push(skip(e.code, e.message));
                    continue;
                }
            };
            let summary = ["summary", "description"]
                .iter()
                .find_map(|k| alert.annotations.get(*k))
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            let reason = format!("alert {}{summary}", name.as_deref().unwrap_or("(unnamed)"));
            match abort(&state, &caller, &target, reason).await {
                Ok(done) => result.aborted.push(done),
                Err(e) => result.skipped.push(skip(e.code, e.message)),
            }
        }
        return Ok(Json(result));
    }
    let target = named_target(body.rollout, body.env, body.prompt)?.ok_or_else(|| {
        ApiError::unprocessable("rollout: name a rollout, or `env` and `prompt`, or send `alerts`")
    })?;
    let reason = body
        .reason
        .unwrap_or_else(|| "aborted through the inbound hook".into());
    result
        .aborted
        .push(abort(&state, &caller, &target, reason).await?);
    Ok(Json(result))
}

/// What a request or an alert's labels name; `Ok(None)` when nothing.
fn named_target(
    rollout: Option<String>,
    env: Option<String>,
    prompt: Option<String>,
) -> Result<Option<AbortTarget>, ApiError> {
    Ok(match (rollout, env, prompt) {
        (Some(id), _, _) => Some(AbortTarget::Rollout(id)),
        (None, Some(env), Some(prompt)) => {
            let (env, name) = pointer(&env, &prompt)?;
            Some(AbortTarget::Pointer { env, name })
        }
        (None, Some(_), None) => return Err(ApiError::unprocessable("prompt: required with env")),
        (None, None, Some(_)) => return Err(ApiError::unprocessable("env: required with prompt")),
        (None, None, None) => None,
    })
}

async fn abort(
    state: &AppState,
    caller: &Caller,
    target: &AbortTarget,
    reason: String,
) -> Result<AbortedRollout, ApiError> {
    let r = state
        .registry
        .abort_target(caller, target, reason.clone())
        .await?;
    Ok(AbortedRollout {
        rollout: r.id,
        env: r.env.to_string(),
        prompt: r.name.to_string(),
        reason,
    })
}
