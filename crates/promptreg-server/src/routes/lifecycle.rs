//! Retention: the project's lifecycle rules, and pruning by them.

use axum::extract::State;
use axum::Json;
use promptreg_api::{
    HeldVersionView, LifecycleView, PruneRequest, PruneView, PrunedVersionView, SetLifecycle,
};
use promptreg_core::retention::{format_age, parse_age, Rules};
use promptreg_store::LifecycleRecord;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, OptionalJson};

fn view(record: Option<LifecycleRecord>) -> LifecycleView {
    match record {
        None => LifecycleView::default(),
        Some(r) => LifecycleView {
            keep_last: r.rules.keep_last,
            prune_unused_after: r.rules.prune_unused_after.map(format_age),
            updated_by: Some(r.updated_by),
            updated_at: Some(r.updated_at),
        },
    }
}

/// The project's lifecycle rules (all null when never set: nothing is pruned).
#[utoipa::path(get, path = "/v1/lifecycle", tag = "lifecycle",
    responses((status = 200, body = LifecycleView), crate::responses::Auth))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<LifecycleView>, ApiError> {
    Ok(Json(view(state.registry.lifecycle(&caller).await?)))
}

/// Sets the project's lifecycle rules (admin); both null removes them.
#[utoipa::path(put, path = "/v1/lifecycle", tag = "lifecycle", request_body = SetLifecycle,
    responses((status = 200, body = LifecycleView), crate::responses::Auth, crate::responses::BadBody))]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<SetLifecycle>,
) -> Result<Json<LifecycleView>, ApiError> {
    let age = body
        .prune_unused_after
        .as_deref()
        .map(parse_age)
        .transpose()
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let rules =
        Rules::new(body.keep_last, age).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let record = state.registry.set_lifecycle(&caller, rules).await?;
    Ok(Json(view(Some(record))))
}

/// Prunes the versions the lifecycle rules let go (admin): their content is dropped, a
/// tombstone stays. `{"dry_run": true}` only lists them, with the reason each may go.
#[utoipa::path(post, path = "/v1/prune", tag = "lifecycle", request_body = Option<PruneRequest>,
    responses((status = 200, body = PruneView), crate::responses::Auth, crate::responses::BadBody))]
pub async fn prune(
    State(state): State<AppState>,
    caller: Caller,
    OptionalJson(body): OptionalJson<PruneRequest>,
) -> Result<Json<PruneView>, ApiError> {
    let done = state.registry.prune(&caller, body.dry_run).await?;
    Ok(Json(PruneView {
        dry_run: done.dry_run,
        keep_last: done.rules.keep_last,
        prune_unused_after: done.rules.prune_unused_after.map(format_age),
        at: done.at,
        pruned: done
            .pruned
            .into_iter()
            .map(|p| PrunedVersionView {
                name: p.name,
                version: p.version,
                digest: p.digest.to_string(),
                reason: p.reason,
                ledger_index: p.ledger_seq.and_then(|s| u64::try_from(s - 1).ok()),
            })
            .collect(),
        held: done
            .held
            .into_iter()
            .map(|h| HeldVersionView {
                name: h.name,
                version: h.version,
                holds: h.holds.iter().map(ToString::to_string).collect(),
            })
            .collect(),
    }))
}
