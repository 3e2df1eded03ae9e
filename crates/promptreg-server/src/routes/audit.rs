//! The audit log: a filtered, paged list, and an export of every match as JSON lines.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use promptreg_api::{AuditEntry, AuditQuery, Page, PageParams};
use promptreg_core::{EnvName, PromptName};
use promptreg_store::AuditFilter;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::AppQuery;
use crate::paging::{page, page_request, ListKind};
use crate::registry::AuditedChange;

/// How many changes the export reads per query.
const EXPORT_BATCH: u32 = 500;

/// The view of one audited change.
pub fn view(c: AuditedChange) -> AuditEntry {
    let change = serde_json::to_value(&c.record.change).unwrap_or_default();
    AuditEntry {
        seq: c.record.seq,
        at: c.record.at,
        actor: c.record.actor,
        action: c.action,
        kind: c.record.change.kind().to_owned(),
        prompt: c.prompt,
        env: c.env,
        subject: c.subject,
        before: c.before,
        after: c.after,
        reason: c.record.reason,
        request_id: c.record.request_id,
        policies: c.record.policies,
        change,
    }
}

fn time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(format!("{field} must be an RFC 3339 time: {e}"))
                })
        })
        .transpose()
}

/// The store filter of a query (without paging), each field checked.
fn filter(q: &AuditQuery) -> Result<AuditFilter, ApiError> {
    let prompt = q
        .prompt
        .as_deref()
        .map(|p| PromptName::parse(p).map_err(|e| ApiError::bad_request(format!("prompt: {e}"))))
        .transpose()?;
    let env = q
        .env
        .as_deref()
        .map(|e| EnvName::parse(e).map_err(|e| ApiError::bad_request(format!("env: {e}"))))
        .transpose()?;
    if let Some(action) = &q.action {
        let valid = !action.is_empty()
            && action.len() <= 64
            && action.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        if !valid {
            return Err(ApiError::bad_request(format!(
                "action must be a lowercase name like 'deploy' or 'pointer_moved', got {action:?}"
            )));
        }
    }
    if let Some(actor) = &q.actor {
        if actor.is_empty() || actor.len() > 256 {
            return Err(ApiError::bad_request("actor must be 1 to 256 characters"));
        }
    }
    let since = time("since", q.since.as_deref())?;
    let until = time("until", q.until.as_deref())?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(ApiError::bad_request("since must not be after until"));
        }
    }
    Ok(AuditFilter {
        actor: q.actor.clone(),
        prompt: prompt.map(|p| p.to_string()),
        env: env.map(|e| e.to_string()),
        action: q.action.clone(),
        since,
        until,
        before_seq: None,
        limit: 0,
    })
}

/// Changes of the caller's project, newest first, filtered by actor, prompt, environment,
/// action and time, each with the state before and after it.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), crate::responses::Auth, crate::responses::BadRequest))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let mut filter = filter(&q)?;
    let params = PageParams {
        limit: q.limit.clone(),
        cursor: q.cursor.clone(),
    };
    let (limit, request) = page_request(&params, ListKind::Audit, |k| k.parse::<i64>().ok())?;
    filter.before_seq = request.after;
    filter.limit = request.limit;
    let changes = state.registry.audit(&caller, &filter).await?;
    Ok(Json(page(
        changes,
        limit,
        ListKind::Audit,
        |c| c.record.seq.to_string(),
        view,
    )))
}

/// Every change matching the filters (`limit` and `cursor` are ignored), newest first, as
/// JSON lines (`application/x-ndjson`, one audit entry per line), streamed.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "One audit entry (as in GET /v1/audit) per line.",
        content_type = "application/x-ndjson", body = String),
        crate::responses::Auth, crate::responses::BadRequest))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let mut first = filter(&q)?;
    first.limit = EXPORT_BATCH;
    // The first batch is read before answering, so a refusal (policy) is a proper error
    // response rather than a broken stream.
    let changes = state.registry.audit(&caller, &first).await?;
    let stream = futures::stream::unfold(Some((changes, first)), move |next| {
        let state = state.clone();
        let caller = caller.clone();
        async move {
            let (changes, mut filter) = next?;
            let mut lines = Vec::new();
            for c in &changes {
                let seq = c.record.seq;
                filter.before_seq = Some(seq);
                let entry = view(c.clone());
                if serde_json::to_writer(&mut lines, &entry).is_ok() {
                    lines.push(b'\n');
                }
            }
            if lines.is_empty() {
                return None;
            }
            let following = if changes.len() < EXPORT_BATCH as usize {
                None
            } else {
                match state.registry.audit(&caller, &filter).await {
                    Ok(more) => Some((more, filter)),
                    Err(e) => {
                        // The status line is sent: end the stream early, and say so in the log.
                        tracing::error!(error = %e, "audit export stopped");
                        None
                    }
                }
            };
            Some((
                Ok::<_, std::io::Error>(bytes::Bytes::from(lines)),
                following,
            ))
        }
    });
    Ok((
        [(CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
