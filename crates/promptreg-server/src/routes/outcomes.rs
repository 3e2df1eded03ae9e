//! Outcomes: agents report batches of events; anyone who may read sees a version's figures.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use promptreg_api::MAX_OUTCOME_EVENTS;
use promptreg_api::{OutcomeBatch, OutcomeReport, OutcomesQuery, Quantiles, VersionOutcomes};
use promptreg_core::{EnvName, Version};

use super::versions::prompt_name;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery};

/// The body limit of `POST /v1/outcomes`, above the general one: 10,000 events of a few
/// hundred bytes each.
pub const MAX_OUTCOME_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Reports outcome events; each is accepted or refused on its own.
#[utoipa::path(post, path = "/v1/outcomes", tag = "outcomes", request_body = OutcomeBatch,
    responses((status = 200, body = OutcomeReport, description = "Every event accepted or refused, with a code"),
        crate::responses::Auth, crate::responses::BadBody))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(batch): AppJson<OutcomeBatch>,
) -> Result<Json<OutcomeReport>, ApiError> {
    if batch.events.len() > MAX_OUTCOME_EVENTS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!(
                "events: {} events in one batch; at most {MAX_OUTCOME_EVENTS} (nothing was accepted)",
                batch.events.len()
            ),
        ));
    }
    let report = state
        .registry
        .report_outcomes(&caller, batch.events)
        .await?;
    Ok(Json(report))
}

/// A version's outcomes in an environment since a time: counts, rates, latency and cost
/// quantiles, mean score.
#[utoipa::path(get, path = "/v1/prompts/{name}/versions/{version}/outcomes", tag = "outcomes",
    params(("name" = String, Path), ("version" = i64, Path), OutcomesQuery),
    responses((status = 200, body = VersionOutcomes), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound, crate::responses::Unreadable))]
pub async fn version_outcomes(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((name, version)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<OutcomesQuery>,
) -> Result<Json<VersionOutcomes>, ApiError> {
    let name = prompt_name(&name)?;
    let version = version
        .parse::<Version>()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let env_raw = q.env.as_deref().unwrap_or("production");
    let env = EnvName::parse(env_raw).map_err(|e| {
        ApiError::bad_request(format!("env: invalid environment name {env_raw:?}: {e}"))
    })?;
    let now = state.registry.now();
    let since = match q.since.as_deref() {
        None => now - chrono::TimeDelta::hours(1),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ApiError::bad_request(format!("since: not an RFC 3339 time: {e}")))?,
    };
    let w = state
        .registry
        .version_outcomes(&caller, &env, &name, version, since)
        .await?;
    let since = crate::outcomes::minute_start(crate::outcomes::minute_of(since));
    Ok(Json(VersionOutcomes {
        name: name.to_string(),
        version: version.get(),
        env: env.to_string(),
        since,
        samples: w.samples,
        successes: w.successes,
        failures: w.failures,
        success_rate: w.success_rate(),
        unsafe_actions: w.unsafe_actions,
        unsafe_action_rate: w.unsafe_action_rate(),
        policy_violations: w.policy_violations,
        policy_violation_rate: w.policy_violation_rate(),
        latency_ms: Quantiles {
            p50: w.latency_ms.quantile(0.5),
            p90: w.latency_ms.quantile(0.9),
            p99: w.latency_ms.quantile(0.99),
        },
        cost: Quantiles {
            p50: w.cost.quantile(0.5),
            p90: None,
            p99: w.cost.quantile(0.99),
        },
        score_mean: w.score_mean(),
    }))
}
