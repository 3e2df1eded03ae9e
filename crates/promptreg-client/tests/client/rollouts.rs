//! The rollout calls against a scripted stand-in: paths and bodies as `docs/api.md` gives
//! them, `current_rollout` turning 404 `no_active_rollout` (and only that) into `None`, and
//! resolve's `subject` and `track` on the query with the preview track kept apart in the
//! cache. The same calls run against the real server in the CLI's tests (`rollouts.rs`).

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use promptreg_api::StartRollout;
use promptreg_client::{Client, PageRequest, ResolveOptions, Track};
use promptreg_core::{EnvName, PromptBody, PromptContent, PromptName, Version};
use serde_json::{json, Value};

/// Requests as the stand-in saw them: `METHOD uri body`.
type Seen = Arc<parking_lot::Mutex<Vec<String>>>;

fn view(status: &str) -> Value {
    json!({
        "id": "r1", "env": "production", "name": "support/triage",
        "stable_version": 1, "stable_digest": "sha256:a", "candidate_version": 2,
        "candidate_digest": "sha256:b", "strategy_name": "canary",
        "strategy": {"canary": {"steps": [{"set_weight": 500}]}}, "analysis": null,
        "status": status, "paused_reason": null, "step": 0, "steps_total": 1, "weight": 500,
        "step_started_at": "2026-01-01T00:00:00Z", "switched": false, "analysis_skipped": false,
        "reason": null, "created_by": "admin", "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z", "revision": 1, "arms": {}, "analysis_results": {}
    })
}

async fn record(seen: &Seen, uri: &OriginalUri, body: &str) {
    seen.lock().push(format!("{} {body}", uri.0));
}

async fn start() -> (Client, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/v1/environments/{env}/prompts/{name}/rollouts",
            post(
                |State(seen): State<Seen>, uri: OriginalUri, body: String| async move {
                    record(&seen, &uri, &body).await;
                    (StatusCode::CREATED, Json(view("progressing")))
                },
            )
            .get(|State(seen): State<Seen>, uri: OriginalUri| async move {
                record(&seen, &uri, "").await;
                Json(json!({"items": [view("aborted")], "next_cursor": null}))
            }),
        )
        .route(
            "/v1/environments/{env}/prompts/{name}/rollouts/current",
            get(|Path((env, _)): Path<(String, String)>| async move {
                let (status, code) = match env.as_str() {
                    "production" => return Json(view("paused")).into_response(),
                    "staging" => (StatusCode::NOT_FOUND, "no_active_rollout"),
                    _ => (StatusCode::NOT_FOUND, "not_found"),
                };
                (
                    status,
                    Json(json!({"error": {"code": code, "message": "nope"}})),
                )
                    .into_response()
            }),
        )
        .route(
            "/v1/rollouts/{id}/{action}",
            post(
                |State(seen): State<Seen>, uri: OriginalUri, body: String| async move {
                    record(&seen, &uri, &body).await;
                    Json(view("paused"))
                },
            ),
        )
        .route(
            "/v1/resolve/{name}",
            get(|State(seen): State<Seen>, uri: OriginalUri| async move {
                record(&seen, &uri, "").await;
                let preview = uri.0.query().unwrap_or("").contains("track=preview");
                let template = if preview { "v2 {{ x }}" } else { "v1 {{ x }}" };
                let digest = PromptContent::new(PromptBody::Text(template.into()), None, None)
                    .unwrap()
                    .digest()
                    .to_string();
                let body = json!({"name": "support/triage", "version": if preview { 2 } else { 1 },
                    "digest": digest, "type": "text", "template": template, "messages": null,
                    "variables": null, "model": null, "env": "production"});
                ([("etag", format!("\"{digest}\""))], Json(body)).into_response()
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Client::new(&format!("http://{addr}"), "t").unwrap(), seen)
}

fn name() -> PromptName {
    PromptName::parse("support/triage").unwrap()
}

fn env(e: &str) -> EnvName {
    EnvName::parse(e).unwrap()
}

#[tokio::test]
async fn starts_and_commands_go_to_their_routes_with_their_bodies() {
    let (client, seen) = start().await;
    let body = StartRollout {
        candidate: Version::new(2).unwrap(),
        reason: Some("try".into()),
        strategy: json!({"canary": {"steps": [{"set_weight": 500}]}}),
        analysis: None,
        change_request: None,
    };
    let started = client
        .start_rollout(&env("production"), &name(), &body)
        .await
        .unwrap();
    assert_eq!(started.status, "progressing");
    client.promote("r1", true, Some("ship")).await.unwrap();
    client.promote("r1", false, None).await.unwrap();
    client.pause("r1", Some("look")).await.unwrap();
    client.resume("r1", None).await.unwrap();
    client.abort("r1", None).await.unwrap();
    client.skip_analysis("r1", None).await.unwrap();
    let page = client
        .rollouts(&env("production"), &name(), PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(page.items[0].status, "aborted");
    let seen = seen.lock().clone();
    assert_eq!(
        seen,
        [
            r#"/v1/environments/production/prompts/support%2Ftriage/rollouts {"candidate":2,"reason":"try","strategy":{"canary":{"steps":[{"set_weight":500}]}}}"#,
            r#"/v1/rollouts/r1/promote {"reason":"ship","full":true}"#,
            "/v1/rollouts/r1/promote {}",
            r#"/v1/rollouts/r1/pause {"reason":"look"}"#,
            "/v1/rollouts/r1/resume {}",
            "/v1/rollouts/r1/abort {}",
            "/v1/rollouts/r1/skip-analysis {}",
            "/v1/environments/production/prompts/support%2Ftriage/rollouts?limit=5 ",
        ]
    );
}

#[tokio::test]
async fn current_rollout_is_none_only_when_none_is_active() {
    let (client, _) = start().await;
    let live = client
        .current_rollout(&env("production"), &name())
        .await
        .unwrap();
    assert_eq!(live.unwrap().status, "paused");
    assert_eq!(
        client
            .current_rollout(&env("staging"), &name())
            .await
            .unwrap(),
        None
    );
    // An unknown environment is still an error, not "no rollout".
    let err = client
        .current_rollout(&env("nowhere"), &name())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
}

#[tokio::test]
async fn resolve_sends_subject_and_track_and_keeps_the_preview_apart() {
    let (client, seen) = start().await;
    let production = env("production");
    let live = client
        .resolve(&name(), Some(&production), Some("agent-7"))
        .await
        .unwrap();
    let preview = client
        .resolve_with(
            &name(),
            &ResolveOptions {
                env: Some(&production),
                subject: None,
                track: Some(Track::Preview),
            },
        )
        .await
        .unwrap();
    assert_eq!((live.version.get(), preview.version.get()), (1, 2));
    // The preview answer did not replace the live pointer's kept copy.
    assert_eq!(
        client.cached_resolve(&name(), Some(&production)),
        Some(live)
    );
    let seen = seen.lock().clone();
    assert_eq!(
        seen,
        [
            "/v1/resolve/support%2Ftriage?env=production&subject=agent-7 ",
            "/v1/resolve/support%2Ftriage?env=production&track=preview ",
        ]
    );
}
