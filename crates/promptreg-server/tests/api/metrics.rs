//! `/metrics` (issue 11, defect 10): optionally behind a token, and with a bounded number of
//! per-prompt series however many prompts there are.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use promptreg_server::config::MetricsAuth;
use promptreg_server::Config;
use serde_json::json;
use tower::ServiceExt;

const TOKEN: &str = "metrics-test-admin";

async fn app(configure: impl FnOnce(&mut Config)) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path().join("data"));
    config.admin_token = Some(TOKEN.into());
    configure(&mut config);
    let state = promptreg_server::build_state(&config).await.unwrap();
    (promptreg_server::router_for(state, &config), dir)
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let (open, _d1) = app(|_| {}).await;
    assert_eq!(
        send(&open, "GET", "/metrics", None, None).await.0,
        StatusCode::OK
    );

    let (closed, _d2) = app(|c| c.metrics_auth = MetricsAuth::Token).await;
    let (status, body) = send(&closed, "GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(envelope["error"]["code"], "unauthorized");
    let (status, _) = send(&closed, "GET", "/metrics", Some("wrong"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send(&closed, "GET", "/metrics", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("promptreg_versions_created"), "{body}");
    // Probes stay open.
    assert_eq!(
        send(&closed, "GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn per_prompt_series_are_capped() {
    let (app, _dir) = app(|c| c.metrics_max_prompt_series = 2).await;
    // `production` exists from the start.
    for i in 0..5 {
        let version = json!({"type": "text", "template": "x"});
        let path = format!("/v1/prompts/p{i}/versions");
        assert_eq!(
            send(&app, "POST", &path, Some(TOKEN), Some(version))
                .await
                .0,
            StatusCode::CREATED
        );
        let deploy = format!("/v1/environments/production/prompts/p{i}");
        assert_eq!(
            send(
                &app,
                "PUT",
                &deploy,
                Some(TOKEN),
                Some(json!({"version": 1}))
            )
            .await
            .0,
            StatusCode::OK
        );
        let resolve = format!("/v1/resolve/p{i}");
        assert_eq!(
            send(&app, "GET", &resolve, Some(TOKEN), None).await.0,
            StatusCode::OK
        );
    }
    let (_, page) = send(&app, "GET", "/metrics", None, None).await;
    let series: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("promptreg_resolves_total{"))
        .collect();
    let named = series
        .iter()
        .filter(|l| !l.contains("prompt=\"_other\""))
        .count();
    let other: Vec<_> = series
        .iter()
        .filter(|l| l.contains("prompt=\"_other\""))
        .collect();
    assert_eq!(named, 2, "{series:#?}");
    assert_eq!(other.len(), 1, "{series:#?}");
    assert!(other[0].contains("env=\"production\""), "{}", other[0]);
    let total: f64 = series
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 5.0, "every resolve is counted once: {series:#?}");
}
