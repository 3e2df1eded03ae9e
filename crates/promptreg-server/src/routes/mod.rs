//! The one route table, its layers and the OpenAPI document generated from the handlers.

mod environments;
mod prompts;
mod resolve;
mod service;
mod tokens;
mod versions;
pub mod views;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::app::AppState;
use crate::error::ApiError;

/// The OpenAPI 3 document of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "promptreg", description = "Prompt registry and release controller: immutable versions, environments, resolve."),
    paths(
        versions::create_version, versions::list_versions, versions::get_version, versions::immutable_version,
        prompts::list_prompts, prompts::get_prompt, prompts::diff_versions,
        environments::create_environment, environments::list_environments, environments::get_environment,
        environments::deploy, environments::get_deployment, environments::rollback, environments::history, environments::catalog,
        resolve::resolve, resolve::render,
        tokens::create_token, tokens::list_tokens, tokens::revoke_token, tokens::create_key_pair,
        service::healthz, service::readyz, service::metrics, service::openapi,
    ),
    components(schemas(promptreg_api::ErrorBody, promptreg_api::ErrorDetail)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// Request ids: a per-process random prefix and a counter (cheap on the hot path).
#[derive(Clone)]
struct NextRequestId {
    prefix: u32,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl MakeRequestId for NextRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{:08x}-{n:x}", self.prefix)
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// Builds the router.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let v1 = Router::new()
        .route("/v1/prompts", get(prompts::list_prompts))
        .route("/v1/prompts/{name}", get(prompts::get_prompt))
        .route("/v1/prompts/{name}/diff", get(prompts::diff_versions))
        .route(
            "/v1/prompts/{name}/versions",
            post(versions::create_version).get(versions::list_versions),
        )
        .route(
            "/v1/prompts/{name}/versions/{version}",
            get(versions::get_version)
                .put(versions::immutable_version)
                .patch(versions::immutable_version)
                .delete(versions::immutable_version),
        )
        .route(
            "/v1/environments",
            post(environments::create_environment).get(environments::list_environments),
        )
        .route("/v1/environments/{env}", get(environments::get_environment))
        .route("/v1/environments/{env}/catalog", get(environments::catalog))
        .route(
            "/v1/environments/{env}/prompts/{name}",
            put(environments::deploy).get(environments::get_deployment),
        )
        .route(
            "/v1/environments/{env}/prompts/{name}/rollback",
            post(environments::rollback),
        )
        .route(
            "/v1/environments/{env}/prompts/{name}/history",
            get(environments::history),
        )
        .route("/v1/resolve/{name}", get(resolve::resolve))
        .route("/v1/resolve/{name}/render", post(resolve::render))
        .route(
            "/v1/tokens",
            post(tokens::create_token).get(tokens::list_tokens),
        )
        .route(
            "/v1/tokens/{id}",
            axum::routing::delete(tokens::revoke_token),
        )
        .route("/v1/key-pairs", post(tokens::create_key_pair));
    Router::new()
        .merge(v1)
        .route("/healthz", get(service::healthz))
        .route("/readyz", get(service::readyz))
        .route("/metrics", get(service::metrics))
        .route("/openapi.json", get(service::openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    // Resolves are the agents' hot path: they are counted in /metrics, not
                    // traced one by one, which keeps their cost near a static file's.
                    if req.method() == axum::http::Method::GET && req.uri().path().starts_with("/v1/resolve/") {
                        return tracing::Span::none();
                    }
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id,
                        prompt.name = tracing::field::Empty, prompt.version = tracing::field::Empty, prompt.digest = tracing::field::Empty)
                })
                .on_request(())
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, NextRequestId { prefix: rand::random(), counter: Default::default() }))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// Records what is known about the prompt in the request's span.
pub(crate) fn record_prompt(name: &str, version: Option<i64>, digest: Option<&str>) {
    let span = tracing::Span::current();
    span.record("prompt.name", name);
    if let Some(v) = version {
        span.record("prompt.version", v);
    }
    if let Some(d) = digest {
        span.record("prompt.digest", d);
    }
}
