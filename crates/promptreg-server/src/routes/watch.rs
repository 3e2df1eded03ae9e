//! The change stream (`GET /v1/watch`, Server-Sent Events) and signed environment snapshots
//! (`GET /v1/environments/{env}/snapshot`): what agents' caches are built on. The workflows
//! are `Registry::watch` and `Registry::env_state`; these adapt HTTP to them.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use promptreg_api::{EnvSnapshot, SnapshotPrompt, SnapshotRollout, ENV_SNAPSHOT_FORMAT};
use promptreg_core::{Digest, PromptName};
use serde::Deserialize;

use super::environments::env_name;
use super::views;
use crate::app::AppState;
use crate::auth::Caller;
use crate::connections::StreamStop;
use crate::error::ApiError;
use crate::extract::{AppPath, AppQuery};
use crate::registry::{EnvState, WatchFilter};

/// `GET /v1/watch` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// Only changes in this environment (version creations, which are in no environment,
    /// are always sent); every environment when absent.
    pub env: Option<String>,
    /// Only prompts whose name starts with this.
    pub prefix: Option<String>,
    /// Replay every change after this log position first (a `Last-Event-ID` header wins).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
}

/// `GET /v1/environments/{env}/snapshot` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// Only prompts whose name starts with this.
    pub prefix: Option<String>,
}

/// A name prefix: what a prompt name may start with (1 to 200 characters of a name).
fn prefix(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(p) = raw else { return Ok(None) };
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b);
    if p.is_empty() || p.len() > PromptName::MAX_LEN || !p.bytes().all(allowed) {
        return Err(ApiError::bad_request(format!(
            "prefix: {p:?} cannot start a prompt name (1 to {} of a-z, 0-9, '.', '_', '-', '/')",
            PromptName::MAX_LEN
        )));
    }
    Ok(Some(p))
}

/// A log position from `Last-Event-ID` or `after`.
fn position(what: &str, raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{what}: {raw:?} is not a log position (an integer >= 0)"
            ))
        })
}

/// The change stream: every committed version creation, pointer move and rollout change of
/// the caller's project as Server-Sent Events (see docs/api.md "Change stream" for frames,
/// resume and resync). Errors come before the stream opens, with the error envelope.
#[utoipa::path(get, path = "/v1/watch", tag = "watch", params(WatchQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this log position (wins over `after`)")),
    responses((status = 200, body = String, content_type = "text/event-stream",
            description = "Frames `id:`/`event:`/`data:`: `version_created`, `pointer_moved`, `rollout_changed` (data: the event record), `ready`, `resync`; `: heartbeat` comments"),
        crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn watch(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<WatchQuery>,
    headers: HeaderMap,
    stop: Option<Extension<StreamStop>>,
) -> Result<Response, ApiError> {
    let env = query.env.as_deref().map(env_name).transpose()?;
    let prefix = prefix(query.prefix)?;
    let from_header = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").trim())
        .filter(|v| !v.is_empty());
    let after = match (from_header, query.after.as_deref()) {
        (Some(id), _) => Some(position("Last-Event-ID", id)?),
        (None, Some(after)) => Some(position("after", after)?),
        (None, None) => None,
    };
    let frames = state
        .registry
        .watch(
            &caller,
            WatchFilter { env, prefix },
            after,
            stop.map(|Extension(s)| s.0),
        )
        .await?;
    let body = Body::from_stream(frames.map(Ok::<_, Infallible>));
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Proxies that buffer (nginx) would hold frames back.
            (
                axum::http::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        body,
    )
        .into_response())
}

/// A signed snapshot of an environment: every live prompt (whole version with its
/// signature) and active rollout, as of the log position `seq`, in a DSSE envelope signed
/// by the server's current key. `ETag` names the content; `If-None-Match` → 304.
#[utoipa::path(get, path = "/v1/environments/{env}/snapshot", tag = "watch",
    params(("env" = String, Path), SnapshotQuery),
    responses((status = 200, body = Object, content_type = "application/json",
            description = "DSSE envelope: `payloadType` `application/vnd.promptreg.env-snapshot+json`, `payload` the base64 of the snapshot's RFC 8785 JSON, `signatures`"),
        (status = 304, description = "Not modified"),
        crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn env_snapshot(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(env): AppPath<String>,
    AppQuery(query): AppQuery<SnapshotQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let env = env_name(&env)?;
    let prefix = prefix(query.prefix)?;
    let taken = state.registry.env_state(&caller, env, prefix).await?;
    let snapshot = snapshot(taken);
    let etag = etag(&snapshot);
    if super::resolve::matches_etag(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response());
    }
    let envelope = state.registry.sign_env_snapshot(&snapshot);
    Ok((
        [
            (ETAG, etag),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Json(envelope),
    )
        .into_response())
}

/// The snapshot on the wire.
fn snapshot(s: EnvState) -> EnvSnapshot {
    EnvSnapshot {
        format: ENV_SNAPSHOT_FORMAT.into(),
        project: s.project.to_string(),
        env: s.env.to_string(),
        prefix: s.prefix,
        seq: s.seq,
        taken_at: s.taken_at,
        keys: s.keys.into_iter().map(super::ledger::key_view).collect(),
        prompts: s
            .prompts
            .into_iter()
            .map(|p| SnapshotPrompt {
                name: p.live.name.to_string(),
                pointer_seq: p.pointer_seq,
                live: views::version(p.live, None),
                rollout: p.rollout.map(|(r, candidate)| SnapshotRollout {
                    id: r.id,
                    revision: r.revision,
                    strategy: r.spec.strategy_name().to_owned(),
                    status: r.state.status.as_str().to_owned(),
                    step: r.state.step,
                    weight: r.state.weight,
                    switched: r.state.switched,
                    candidate: views::version(candidate, None),
                }),
            })
            .collect(),
    }
}

/// The snapshot's content without its position and time: the same environment gives the
/// same tag whatever else the project's log recorded meanwhile.
fn etag(s: &EnvSnapshot) -> HeaderValue {
    let content = serde_json::json!({
        "env": s.env, "prefix": s.prefix, "keys": s.keys, "prompts": s.prompts,
    });
    let digest = Digest::of_bytes(promptreg_core::content::canonical_json(&content).as_bytes());
    HeaderValue::from_str(&format!("\"{digest}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}
