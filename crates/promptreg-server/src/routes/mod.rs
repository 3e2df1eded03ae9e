//! The one route table, its layers and the OpenAPI document generated from the handlers.

mod audit;
mod changes;
mod environments;
mod gates;
mod kek;
mod langfuse;
mod ledger;
mod lifecycle;
mod outcomes;
mod projects;
mod prompts;
mod recovery;
mod resolve;
mod rollouts;
mod service;
mod tokens;
mod versions;
pub mod views;
mod watch;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
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
        rollouts::start, rollouts::list_for_pointer, rollouts::current, rollouts::list_all, rollouts::get,
        rollouts::promote, rollouts::pause, rollouts::resume, rollouts::abort, rollouts::skip_analysis,
        outcomes::report, outcomes::version_outcomes,
        tokens::create_token, tokens::list_tokens, tokens::revoke_token, tokens::create_key_pair,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook, webhooks::delete_webhook,
        webhooks::deliveries, webhooks::abort_hook,
        ledger::checkpoint, ledger::entries, ledger::inclusion, ledger::consistency, ledger::keys,
        ledger::rotate_signing, kek::rotate_kek,
        recovery::sign_export, recovery::import,
        lifecycle::get, lifecycle::set, lifecycle::prune,
        audit::list, audit::export,
        service::healthz, service::readyz, service::metrics, service::openapi,
        langfuse::get_prompt, langfuse::list_prompts, langfuse::create_prompt, langfuse::update_labels,
        langfuse::delete_prompt, langfuse::projects,
        gates::attach, gates::list, gates::get, gates::set,
        environments::update_environment,
        changes::create, changes::list, changes::get, changes::approve, changes::reject, changes::apply,
        projects::create_project, projects::list_projects,
        watch::watch, watch::env_snapshot,
    ),
    components(schemas(promptreg_api::ErrorBody, promptreg_api::ErrorDetail, langfuse::error::LangfuseErrorBody)),
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

/// Builds the router.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    // The agents' hot path is served outside the generic layers below: its handler counts and
    // times itself and sets its request id (see `resolve::resolve`), which measured ~15% more
    // resolves per second than going through tracing, request-id and metrics middleware.
    let hot = Router::new().route(
        "/v1/resolve/{name}",
        get(resolve::resolve).fallback(method_not_allowed),
    );
    let request_id = crate::request_id::HEADER;
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
        .route(
            "/v1/environments/{env}",
            get(environments::get_environment).patch(environments::update_environment),
        )
        .route("/v1/environments/{env}/catalog", get(environments::catalog))
        .route("/v1/environments/{env}/snapshot", get(watch::env_snapshot))
        .route("/v1/watch", get(watch::watch))
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
        .route(
            "/v1/environments/{env}/prompts/{name}/rollouts",
            post(rollouts::start).get(rollouts::list_for_pointer),
        )
        .route(
            "/v1/environments/{env}/prompts/{name}/rollouts/current",
            get(rollouts::current),
        )
        .route("/v1/rollouts", get(rollouts::list_all))
        .route("/v1/rollouts/{id}", get(rollouts::get))
        .route("/v1/rollouts/{id}/promote", post(rollouts::promote))
        .route("/v1/rollouts/{id}/pause", post(rollouts::pause))
        .route("/v1/rollouts/{id}/resume", post(rollouts::resume))
        .route("/v1/rollouts/{id}/abort", post(rollouts::abort))
        .route(
            "/v1/rollouts/{id}/skip-analysis",
            post(rollouts::skip_analysis),
        )
        .route(
            "/v1/outcomes",
            post(outcomes::report).layer(DefaultBodyLimit::max(outcomes::MAX_OUTCOME_BODY_BYTES)),
        )
        .route(
            "/v1/prompts/{name}/versions/{version}/outcomes",
            get(outcomes::version_outcomes),
        )
        .route("/v1/resolve/{name}/render", post(resolve::render))
        .route(
            "/v1/tokens",
            post(tokens::create_token).get(tokens::list_tokens),
        )
        .route(
            "/v1/tokens/{id}",
            axum::routing::delete(tokens::revoke_token),
        )
        .route("/v1/key-pairs", post(tokens::create_key_pair))
        .route(
            "/v1/webhooks",
            post(webhooks::create_webhook).get(webhooks::list_webhooks),
        )
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get_webhook).delete(webhooks::delete_webhook),
        )
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/v1/hooks/abort", post(webhooks::abort_hook))
        .route("/v1/ledger/checkpoint", get(ledger::checkpoint))
        .route("/v1/ledger/entries", get(ledger::entries))
        .route("/v1/ledger/proofs/inclusion", get(ledger::inclusion))
        .route("/v1/ledger/proofs/consistency", get(ledger::consistency))
        .route("/v1/keys", get(ledger::keys))
        .route("/v1/keys/signing/rotate", post(ledger::rotate_signing))
        .route("/v1/keys/kek/rotate", post(kek::rotate_kek))
        .route("/v1/export/sign", post(recovery::sign_export))
        .route(
            "/v1/import",
            post(recovery::import).layer(DefaultBodyLimit::max(recovery::MAX_IMPORT_BYTES)),
        )
        .route("/v1/lifecycle", get(lifecycle::get).put(lifecycle::set))
        .route("/v1/prune", post(lifecycle::prune))
        .route("/v1/audit", get(audit::list))
        .route("/v1/audit/export", get(audit::export))
        .route(
            "/v1/prompts/{name}/versions/{version}/validations",
            post(gates::attach).get(gates::list),
        )
        .route(
            "/v1/environments/{env}/gates",
            get(gates::get).put(gates::set),
        )
        .route(
            "/v1/change-requests",
            post(changes::create).get(changes::list),
        )
        .route("/v1/change-requests/{id}", get(changes::get))
        .route("/v1/change-requests/{id}/approve", post(changes::approve))
        .route("/v1/change-requests/{id}/reject", post(changes::reject))
        .route("/v1/change-requests/{id}/apply", post(changes::apply))
        .route(
            "/v1/projects",
            post(projects::create_project).get(projects::list_projects),
        );
    let rest = Router::new()
        .merge(v1)
        .merge(langfuse::routes())
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
                    // Probes and scrapes would only be noise in the logs.
                    let path = req.uri().path();
                    let quiet = matches!(path, "/healthz" | "/readyz" | "/metrics");
                    if req.method() == axum::http::Method::GET && quiet {
                        return tracing::Span::none();
                    }
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id,
                        prompt.name = tracing::field::Empty, prompt.version = tracing::field::Empty, prompt.digest = tracing::field::Empty)
                })
                .on_request(())
                .on_response(|res: &axum::http::Response<_>, latency: std::time::Duration, span: &tracing::Span| {
                    // Untraced routes (resolve, probes, metrics) log nothing per request.
                    if !span.is_disabled() {
                        tracing::info!(status = res.status().as_u16(), latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), "request finished");
                    }
                }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, state.request_ids.clone()));
    hot.merge(rest).with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    match unencoded_prompt_name(uri.path()) {
        Some(name) => ApiError::not_found(format!(
            "no such route; prompt names in paths are percent-encoded: use {} for {name}",
            name.replace('/', "%2F")
        )),
        None => ApiError::not_found("no such route"),
    }
}

/// The prompt name in a path that would have matched a route had the `/` in the name been
/// sent as `%2F` (`/v1/prompts/support/triage/versions`), so that the 404 can say so: "no such
/// route" alone sends the user looking for a typo.
fn unencoded_prompt_name(path: &str) -> Option<&str> {
    let rest = ["/v1/prompts/", "/v1/resolve/", "/api/public/v2/prompts/"]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix))
        .or_else(|| {
            let env_and_rest = path.strip_prefix("/v1/environments/")?;
            Some(env_and_rest.split_once("/prompts/")?.1)
        })?;
    let mut name = rest.trim_end_matches('/');
    // The route's own segments after the name.
    if let Some(before) = name.strip_suffix("/outcomes") {
        if before.contains("/versions/") {
            name = before;
        }
    }
    if let Some((before, version)) = name.rsplit_once("/versions/") {
        if !version.is_empty() && !version.contains('/') {
            name = before;
        }
    }
    for suffix in [
        "/versions",
        "/diff",
        "/render",
        "/rollback",
        "/history",
        "/rollouts/current",
        "/rollouts",
    ] {
        if let Some(before) = name.strip_suffix(suffix) {
            name = before;
            break;
        }
    }
    name.contains('/').then_some(name)
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
