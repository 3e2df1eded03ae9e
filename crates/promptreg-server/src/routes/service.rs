//! Unauthenticated service routes: liveness, readiness, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use utoipa::OpenApi;

use crate::app::AppState;
use crate::error::ApiError;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "service", security(), responses((status = 200, description = "Up")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// The store answers, the resolve index is loaded and (with a shared database) this replica
/// has confirmed recently that it has applied every change.
#[utoipa::path(get, path = "/readyz", tag = "service", security(), responses((status = 200, description = "Ready"), (status = 503, body = promptreg_api::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    if !state.registry.is_loaded() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the resolve index is not loaded yet",
        ));
    }
    if !state.registry.is_current() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "this replica cannot confirm it is current: its change feed is down or catching up",
        ));
    }
    let findings = state.registry.integrity_findings();
    if !findings.is_empty() {
        // Named, so the operator knows which prompt and environment to look at; at most a
        // few, so the answer stays small.
        let shown: Vec<String> = findings.iter().take(5).map(ToString::to_string).collect();
        let more = findings.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "integrity_error",
            format!(
                "stored data did not verify and is not served: {}{tail}",
                shown.join("; ")
            ),
        ));
    }
    if let Err(e) = state.registry.ping().await {
        tracing::warn!(error = %e, "readiness: store does not answer");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer",
        ));
    }
    Ok(Json(serde_json::json!({"status": "ready"})))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "service", security(), responses((status = 200, description = "Prometheus text format", body = String, content_type = "application/openmetrics-text"),
    (status = 401, body = promptreg_api::ErrorBody, description = "Only with `--metrics-auth token`: missing or invalid token")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service", security(), responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::ApiDoc::openapi())
}
