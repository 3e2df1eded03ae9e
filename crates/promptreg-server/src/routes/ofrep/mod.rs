//! OpenFeature Remote Evaluation Protocol (OFREP) routes, so that an unmodified OpenFeature
//! SDK with its OFREP provider asks "which prompt version does this agent get".
//!
//! The mapping: the **flag key is a prompt name** (as the providers send it, `/` unencoded,
//! or percent-encoded), the evaluation context's `targetingKey` is the rollout subject and
//! its `env` the environment (default `production`). The value is the resolved prompt (what
//! `GET /v1/resolve` answers, through the same service call), the variant `v<version>`, and
//! the reason `STATIC` (no rollout applies), `SPLIT` (an active rollout assigned the subject
//! an arm: `metadata.arm`) or `DISABLED` (the prompt exists, nothing is deployed in the
//! environment: no value, the caller's default applies). The bulk route evaluates every
//! prompt live in the environment, with an `ETag` over its answer.
//!
//! - [`wire`]: OFREP's JSON shapes and the reading of the request body.
//! - [`error`]: OFREP's error bodies, converted from [`ApiError`] in one place.

pub mod error;
pub mod wire;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use promptreg_api::Assignment;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use self::error::OfrepError;
use self::wire::{
    BulkEvaluation, BulkItem, BulkMetadata, Context, FlagEvaluation, FlagFailure, FlagMetadata,
};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::AppPath;
use crate::index::Entry;
use crate::registry::{Evaluation, FlagSet};

/// The OFREP routes; they go through the same layers as `/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ofrep/v1/evaluate/flags", post(evaluate_all))
        // A catch-all: OFREP providers put the key in the path as it is, `/` included.
        .route("/ofrep/v1/evaluate/flags/{*key}", post(evaluate))
}

/// Evaluates one prompt as an object flag for the context's `targetingKey` in its `env`.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "openfeature",
    params(("key" = String, Path, description = "Prompt name; `/` may be sent as is (as OFREP providers do) or as `%2F`")),
    request_body = wire::EvaluationRequest,
    responses((status = 200, body = FlagEvaluation, description = "`STATIC`, `SPLIT` or `DISABLED`"),
        crate::responses::OfrepErrors, crate::responses::OfrepFlagNotFound))]
pub async fn evaluate(
    State(state): State<AppState>,
    path: Result<AppPath<String>, ApiError>,
    caller: Result<Caller, ApiError>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FlagEvaluation>, OfrepError> {
    let key = path.map_err(|e| OfrepError::from_api(e, None))?.0;
    let k = Some(key.as_str());
    let caller = caller.map_err(|e| OfrepError::from_api(e, k))?;
    let body = body.map_err(|e| rejected(&e, k))?;
    let context = Context::parse(&body).map_err(|e| OfrepError::body(k, e))?;
    let env = context.env.as_deref().unwrap_or("production");
    let verdict = state
        .registry
        .evaluate_flag(&caller, env, &key, context.subject.as_deref())
        .await
        .map_err(|e| OfrepError::from_api(e.into(), k))?;
    match flag(&key, env, verdict)? {
        BulkItem::Success(evaluation) => {
            let version = evaluation.metadata.version;
            super::record_prompt(&key, version, evaluation.metadata.digest.as_deref());
            Ok(Json(evaluation))
        }
        BulkItem::Failure(failure) => Err(OfrepError::failure(failure)),
    }
}

/// Evaluates every prompt live in the context's `env` (at most `--ofrep-max-flags`, by
/// name; `context.prefix` narrows the set). `ETag` covers the answer: `If-None-Match` → 304.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags", tag = "openfeature",
    params(("If-None-Match" = Option<String>, Header, description = "The `ETag` of an earlier answer: 304 while the answer is the same")),
    request_body = wire::EvaluationRequest,
    responses((status = 200, body = BulkEvaluation, headers(("ETag" = String, description = "Over the whole answer"))),
        (status = 304, description = "Not modified: the answer for this context is unchanged"),
        crate::responses::OfrepErrors))]
pub async fn evaluate_all(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OfrepError> {
    let caller = caller?;
    let body = body.map_err(|e| rejected(&e, None))?;
    let context = Context::parse(&body).map_err(|e| OfrepError::body(None, e))?;
    let env = context.env.as_deref().unwrap_or("production");
    let set = state
        .registry
        .evaluate_flags(
            &caller,
            env,
            context.prefix.as_deref(),
            context.subject.as_deref(),
        )
        .await?;
    let (evaluated, total) = match set {
        FlagSet::Flags { flags, total } => (flags, total),
        FlagSet::InvalidEnvironment(reason) => {
            return Err(OfrepError::new(
                StatusCode::BAD_REQUEST,
                None,
                "INVALID_CONTEXT",
                reason,
            ))
        }
    };
    let mut flags = Vec::with_capacity(evaluated.len());
    for (name, verdict) in evaluated {
        flags.push(flag(&name, env, verdict)?);
    }
    let answer = BulkEvaluation {
        metadata: BulkMetadata {
            env: env.to_owned(),
            total,
            truncated: total > flags.len(),
        },
        flags,
    };
    let bytes = serde_json::to_vec(&answer).map_err(|e| ApiError::internal(&e))?;
    // The tag hashes the answer itself, so it changes exactly when the answer does: a
    // deploy, a rollout step, another subject, another environment or prefix.
    let digest = hex::encode(Sha256::digest(&bytes));
    let etag = HeaderValue::from_str(&format!("\"{}\"", &digest[..32]))
        .map_err(|e| ApiError::internal(&e))?;
    if super::resolve::matches_etag(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response());
    }
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(ETAG, etag);
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// A body that could not be read: too large (413), or broken off.
fn rejected(e: &BytesRejection, key: Option<&str>) -> OfrepError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        OfrepError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            key,
            "GENERAL",
            "request body is larger than the server's limit",
        )
    } else {
        OfrepError::new(
            StatusCode::BAD_REQUEST,
            key,
            "PARSE_ERROR",
            format!("could not read the request body: {e}"),
        )
    }
}

/// The OFREP item for a verdict; an error answer for the verdicts that are the whole
/// request's failure (an unknown flag or environment).
fn flag(key: &str, env: &str, verdict: Evaluation) -> Result<BulkItem, OfrepError> {
    let k = Some(key);
    Ok(match verdict {
        Evaluation::Static(entry) => BulkItem::Success(FlagEvaluation {
            key: key.to_owned(),
            value: Some(value(&entry, None)?),
            reason: "STATIC",
            variant: variant(&entry),
            metadata: metadata(&entry, env, None),
        }),
        Evaluation::Split { entry, assignment } => BulkItem::Success(FlagEvaluation {
            key: key.to_owned(),
            value: Some(value(&entry, Some(&assignment))?),
            reason: "SPLIT",
            variant: variant(&entry),
            metadata: metadata(&entry, env, Some(&assignment)),
        }),
        Evaluation::TargetingKeyMissing { entry, rollout } => BulkItem::Failure(FlagFailure {
            key: Some(key.to_owned()),
            error_code: "TARGETING_KEY_MISSING",
            error_details: format!(
                "prompt '{key}' has an active rollout ({rollout}) in '{env}': send \
                 context.targetingKey (the agent, session or tenant id) to be assigned an arm; \
                 `value` is the live (stable) version, what a resolve without subject answers"
            ),
            value: Some(value(&entry, None)?),
            variant: Some(variant(&entry)),
            metadata: Some(FlagMetadata {
                rollout: Some(rollout),
                ..metadata(&entry, env, None)
            }),
        }),
        Evaluation::Disabled => BulkItem::Success(FlagEvaluation {
            key: key.to_owned(),
            value: None,
            reason: "DISABLED",
            variant: "disabled".into(),
            metadata: FlagMetadata {
                env: env.to_owned(),
                ..FlagMetadata::default()
            },
        }),
        Evaluation::FlagNotFound => {
            return Err(OfrepError::new(
                StatusCode::NOT_FOUND,
                k,
                "FLAG_NOT_FOUND",
                format!("prompt '{key}' not found"),
            ))
        }
        Evaluation::InvalidEnvironment(reason) => {
            return Err(OfrepError::new(
                StatusCode::BAD_REQUEST,
                k,
                "INVALID_CONTEXT",
                reason,
            ))
        }
    })
}

/// The resolved prompt: `GET /v1/resolve`'s answer (the index's pre-serialised body), with
/// the assignment when a rollout placed the subject.
fn value(entry: &Entry, assignment: Option<&Assignment>) -> Result<Value, OfrepError> {
    let mut value: Value =
        serde_json::from_slice(&entry.body).map_err(|e| ApiError::internal(&e))?;
    if let (Some(a), Value::Object(fields)) = (assignment, &mut value) {
        let a = serde_json::to_value(a).map_err(|e| ApiError::internal(&e))?;
        fields.insert("assignment".into(), a);
    }
    Ok(value)
}

fn variant(entry: &Entry) -> String {
    format!("v{}", entry.version.version.get())
}

fn metadata(entry: &Entry, env: &str, assignment: Option<&Assignment>) -> FlagMetadata {
    FlagMetadata {
        env: env.to_owned(),
        version: Some(entry.version.version.get()),
        digest: Some(entry.version.digest.to_string()),
        rollout: assignment.map(|a| a.rollout.clone()),
        arm: assignment.map(|a| a.arm.clone()),
        bucket: assignment.and_then(|a| a.bucket),
        step: assignment.map(|a| a.step),
    }
}
