//! Resolve and render: the agents' hot path, answered from the in-memory index.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use prometheus_client::metrics::counter::Counter;
use promptreg_api::{Assignment, RenderRequest, RenderedView, Resolved};
use promptreg_core::render::Rendered;
use serde::Deserialize;
use std::time::Instant;

use super::record_prompt;
use super::versions::prompt_name;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::registry::{Served, Target};
use crate::request_id;

/// Resolve query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResolveQuery {
    /// Environment (default `production`).
    pub env: Option<String>,
    /// Stickiness key for progressive rollouts (agent, session or tenant id): while a rollout
    /// is active, the subject gets its arm (`assignment` in the answer); no effect otherwise.
    pub subject: Option<String>,
    /// `preview`: a blue-green rollout's candidate before its switch.
    pub track: Option<String>,
}

impl ResolveQuery {
    fn target(&self) -> Result<Target<'_>, ApiError> {
        if let Some(track) = self.track.as_deref() {
            if track != "preview" {
                return Err(ApiError::bad_request(format!(
                    "track: unknown track '{track}' (the only track is 'preview')"
                )));
            }
        }
        if self
            .subject
            .as_deref()
            .is_some_and(|s| s.is_empty() || s.len() > 512)
        {
            return Err(ApiError::bad_request("subject: must be 1 to 512 bytes"));
        }
        Ok(Target {
            subject: self.subject.as_deref(),
            track: self.track.as_deref(),
        })
    }
}

pub(super) fn matches_etag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    headers.get_all(IF_NONE_MATCH).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/").as_bytes() == etag.as_bytes())
        })
    })
}

/// The live version of a prompt in an environment. `ETag` is the digest; `If-None-Match` → 304.
///
/// This route is served outside the generic middleware (see `routes::router`), so it
/// authenticates, sets its request id and records its metrics itself.
#[utoipa::path(get, path = "/v1/resolve/{name}", tag = "resolve", params(("name" = String, Path), ResolveQuery),
    responses((status = 200, body = Resolved), (status = 304, description = "Not modified"), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn resolve(
    State(state): State<AppState>,
    name: Result<AppPath<String>, ApiError>,
    query: Result<AppQuery<ResolveQuery>, ApiError>,
    headers: HeaderMap,
    connected: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
) -> Response {
    let peer = connected.map(|c| c.0 .0.ip());
    let start = Instant::now();
    let id = headers
        .get(request_id::HEADER)
        .cloned()
        .unwrap_or_else(|| state.request_ids.next());
    let mut response = match (name, query) {
        (Ok(AppPath(name)), Ok(AppQuery(q))) => answer(&state, &name, &q, &headers, peer).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
    .unwrap_or_else(IntoResponse::into_response);
    response.headers_mut().insert(request_id::HEADER, id);
    state.metrics.observe(
        "GET",
        "/v1/resolve/{name}",
        response.status().as_u16(),
        start.elapsed(),
    );
    response
}

async fn answer(
    state: &AppState,
    name: &str,
    query: &ResolveQuery,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
) -> Result<Response, ApiError> {
    let caller = Caller::from_headers(state, headers, peer, false).await?;
    let env = query.env.as_deref().unwrap_or("production");
    let target = query.target()?;
    let Served { entry, assignment } = state.registry.resolve(&caller, env, name, &target).await?;
    Counter::inc(&entry.resolves);
    // With an assignment the ETag names the arm too, so a copy kept from before the rollout
    // (or from the other arm) is not confirmed by a 304.
    let etag = match &assignment {
        None => entry.etag.clone(),
        Some(a) => HeaderValue::from_str(&format!(
            "\"{}.{}.{}\"",
            entry.version.digest, a.rollout, a.arm
        ))
        .unwrap_or_else(|_| entry.etag.clone()),
    };
    if matches_etag(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response());
    }
    let body = match assignment {
        None => entry.body.clone(),
        Some(a) => with_assignment(&entry.body, &a),
    };
    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(ETAG, etag);
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The pre-serialised answer with `"assignment": {...}` added as its last field.
fn with_assignment(body: &bytes::Bytes, assignment: &Assignment) -> bytes::Bytes {
    let Some(object) = body.strip_suffix(b"}") else {
        return body.clone();
    };
    let extra = serde_json::to_vec(assignment).unwrap_or_default();
    let mut out = Vec::with_capacity(object.len() + extra.len() + 16);
    out.extend_from_slice(object);
    out.extend_from_slice(b",\"assignment\":");
    out.extend_from_slice(&extra);
    out.push(b'}');
    bytes::Bytes::from(out)
}

/// Renders the live version with variables, checked against its schema first (422 naming the field).
#[utoipa::path(post, path = "/v1/resolve/{name}/render", tag = "resolve", params(("name" = String, Path), ResolveQuery),
    request_body = RenderRequest, responses((status = 200, body = RenderedView), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound))]
pub async fn render(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<ResolveQuery>,
    AppJson(body): AppJson<RenderRequest>,
) -> Result<Json<RenderedView>, ApiError> {
    let env = q.env.as_deref().unwrap_or("production");
    prompt_name(&name)?;
    let target = q.target()?;
    let (served, rendered) = state
        .registry
        .render(&caller, env, &name, &target, &body.variables)
        .await?;
    let v = &served.entry.version;
    record_prompt(&name, Some(v.version.get()), Some(v.digest.as_str()));
    let (text, messages) = match rendered {
        Rendered::Text(t) => (Some(t), None),
        Rendered::Chat(m) => (None, Some(m)),
    };
    Ok(Json(RenderedView {
        name,
        version: v.version,
        digest: v.digest.to_string(),
        env: env.to_owned(),
        prompt_type: v.content.prompt_type(),
        text,
        messages,
        assignment: served.assignment,
    }))
}
