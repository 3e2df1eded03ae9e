//! Tokens and key pairs: create (secret shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::{CreateToken, KeyPairCreated, Page, PageParams, TokenCreated, TokenInfo};
use promptreg_store::TokenKind;

use crate::registry::TokenRequest;

use super::views;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::paging::{page, page_request, ListKind};

/// Creates a bearer token; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateToken, responses((status = 201, body = TokenCreated), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateToken>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let issued = state
        .registry
        .create_token(&caller, request(body, TokenKind::Bearer))
        .await?;
    let r = issued.record;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            grants: views::grants(&r),
            id: r.id,
            name: r.name,
            role: r.role,
            token: issued.secret,
            created_at: r.created_at,
        }),
    ))
}

/// Creates a key pair (Basic auth `public_key:secret_key`); the secret key is in this answer only.
#[utoipa::path(post, path = "/v1/key-pairs", tag = "tokens", request_body = CreateToken, responses((status = 201, body = KeyPairCreated), crate::responses::Auth, crate::responses::BadBody, crate::responses::NotFound))]
pub async fn create_key_pair(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateToken>,
) -> Result<(StatusCode, Json<KeyPairCreated>), ApiError> {
    let issued = state
        .registry
        .create_token(&caller, request(body, TokenKind::KeyPair))
        .await?;
    let r = issued.record;
    Ok((
        StatusCode::CREATED,
        Json(KeyPairCreated {
            grants: views::grants(&r),
            id: r.id,
            name: r.name,
            role: r.role,
            public_key: r.public_key.unwrap_or_default(),
            secret_key: issued.secret,
            created_at: r.created_at,
        }),
    ))
}

/// Active tokens and key pairs, without secrets.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", params(PageParams), responses((status = 200, body = Page<TokenInfo>), crate::responses::Auth, crate::responses::BadRequest))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<Json<Page<TokenInfo>>, ApiError> {
    let (limit, req) = page_request(&params, ListKind::Tokens, |k| Some(k.to_owned()))?;
    let all = state.registry.list_tokens(&caller).await?;
    let rows: Vec<_> = match &req.after {
        Some(after) => all
            .into_iter()
            .skip_while(|t| &t.id != after)
            .skip(1)
            .take(req.limit as usize)
            .collect(),
        None => all.into_iter().take(req.limit as usize).collect(),
    };
    Ok(Json(page(
        rows,
        limit,
        ListKind::Tokens,
        |t| t.id.clone(),
        views::token,
    )))
}

/// Revokes a token at once (401 afterwards).
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"), crate::responses::Auth, crate::responses::BadRequest, crate::responses::NotFound))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.registry.revoke_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn request(body: CreateToken, kind: TokenKind) -> TokenRequest {
    TokenRequest {
        name: body.name,
        role: body.role,
        kind,
        project: body.project,
        environments: body.environments,
        prompt_prefixes: body.prompt_prefixes,
        expires_at: body.expires_at,
    }
}
