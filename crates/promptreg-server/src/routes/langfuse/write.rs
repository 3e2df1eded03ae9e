//! Writes through the Langfuse API: a new version (a promptreg publish, then a deploy per
//! label), labels on a version (deploys), and the refused delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::CreateVersion;
use promptreg_core::{Metadata, PromptBody, Version};

use super::error::{LangfuseError, LfResult};
use super::wire::{langfuse_field, CreatePrompt, PromptRow, UpdateLabels};
use super::{full_row, label_envs, principal, prompt_name};
use crate::app::AppState;
use crate::auth::KeyPairCaller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath};
use crate::registry::ServiceError;

/// Creates the next version of a prompt and deploys it to each label's environment.
///
/// Same content as the newest version creates nothing (promptreg is idempotent by digest); the
/// answer is then that version, with the labels still applied.
#[utoipa::path(post, path = "/api/public/v2/prompts", tag = "langfuse", request_body = CreatePrompt,
    responses((status = 201, body = PromptRow), crate::responses::LangfuseErrors, crate::responses::LangfuseTooLarge))]
pub async fn create_prompt(
    State(state): State<AppState>,
    caller: Result<KeyPairCaller, ApiError>,
    body: Result<AppJson<CreatePrompt>, ApiError>,
) -> LfResult<(StatusCode, Json<PromptRow>)> {
    let caller = principal(caller)?;
    let body = body?.0;
    let labels: Vec<String> = body
        .labels
        .iter()
        .flatten()
        .filter(|l| *l != "latest")
        .cloned()
        .collect();
    let envs = label_envs(&labels)?;
    let name = prompt_name(&body.name)?;
    let kind = body.prompt_type()?;
    // Langfuse: `tags: null` (what the SDK sends by default) keeps the previous tags.
    let tags = match &body.tags {
        Some(t) => t.clone(),
        None => match state.registry.reads(&caller)?.latest(&name).await {
            Ok(previous) => previous.metadata.tags,
            Err(ServiceError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        },
    };
    let (template, messages) = match body.body(kind)? {
        PromptBody::Text(t) => (Some(t), None),
        PromptBody::Chat(m) => (None, Some(m)),
    };
    let request = CreateVersion {
        prompt_type: kind,
        template,
        messages,
        variables: None,
        model: body.model()?,
        commit_message: body.commit_message,
        metadata: Some(Metadata {
            tags,
            ..Metadata::default()
        }),
    };
    // Checked here too, so that the message names the Langfuse field (`prompt`, `config`).
    request.content().map_err(|e| {
        LangfuseError::invalid(format!("{}: {}", langfuse_field(&e.field), e.message))
    })?;
    let published = state
        .registry
        .publish_with_labels(&caller, name, request, &envs)
        .await?;
    let row = full_row(&state, &caller, published.created.version).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// Adds labels to a version: deploys it to each label's environment (moving the label off the
/// version that had it), in one transaction. `latest` cannot be set.
#[utoipa::path(patch, path = "/api/public/v2/prompts/{name}/versions/{version}", tag = "langfuse",
    params(("name" = String, Path), ("version" = i64, Path)), request_body = UpdateLabels,
    responses((status = 200, body = PromptRow), crate::responses::LangfuseErrors, crate::responses::LangfuseTooLarge))]
pub async fn update_labels(
    State(state): State<AppState>,
    caller: Result<KeyPairCaller, ApiError>,
    path: Result<AppPath<(String, String)>, ApiError>,
    body: Result<AppJson<UpdateLabels>, ApiError>,
) -> LfResult<Json<PromptRow>> {
    let caller = principal(caller)?;
    let (name, version) = path?.0;
    let name = prompt_name(&name)?;
    let version = version
        .parse::<Version>()
        .map_err(|e| LangfuseError::invalid(format!("version: {e}")))?;
    let labels = body?.0.new_labels;
    if labels.iter().any(|l| l == "latest") {
        return Err(LangfuseError::invalid(
            "the 'latest' label is managed by the server and cannot be set",
        ));
    }
    let envs = label_envs(&labels)?;
    let (record, _) = state
        .registry
        .set_labels(&caller, name, version, &envs)
        .await?;
    Ok(Json(full_row(&state, &caller, record).await?))
}

/// Refused: versions are immutable and the deploy history is never erased.
#[utoipa::path(delete, path = "/api/public/v2/prompts/{name}", tag = "langfuse",
    params(("name" = String, Path)),
    responses((status = 405, body = super::error::LangfuseErrorBody), crate::responses::LangfuseErrors))]
pub async fn delete_prompt(caller: Result<KeyPairCaller, ApiError>) -> LangfuseError {
    if let Err(e) = principal(caller) {
        return e;
    }
    LangfuseError(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "promptreg never deletes prompt versions: they are immutable and the deploy history is \
         kept; move labels instead",
    ))
}
