//! Tokens and roles: who may do what.

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

both_backends!(
    roles_grant_exactly_their_rights,
    tokens_are_shown_once_and_revoked_at_once,
    key_pairs_authenticate_with_basic_auth
);

async fn roles_grant_exactly_their_rights(app: &TestApp) {
    app.push("p", "x").await;
    app.env("production").await;
    let reader = app.token("reader").await;
    let author = app.token("author").await;
    let deployer = app.token("deployer").await;

    let none = app.raw(Method::GET, "/v1/prompts", None, vec![], &[]).await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert_eq!(
        app.call(Method::GET, "/v1/prompts", "wrong", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    let push = |t: &str| {
        let t = t.to_owned();
        async move {
            app.call(
                Method::POST,
                "/v1/prompts/p/versions",
                &t,
                Some(json!({"type": "text", "template": format!("by {}", &t[..8])})),
            )
            .await
        }
    };
    let deploy = |t: &str, v: i64| {
        let t = t.to_owned();
        async move {
            app.call(
                Method::PUT,
                "/v1/environments/production/prompts/p",
                &t,
                Some(json!({"version": v})),
            )
            .await
        }
    };
    assert_eq!(
        app.call(Method::GET, "/v1/prompts", &reader, None)
            .await
            .status,
        StatusCode::OK
    );
    let denied = push(&reader).await;
    assert_eq!(
        (denied.status, denied.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(denied.message().contains("author"), "{}", denied.message());
    assert_eq!(push(&author).await.status, StatusCode::CREATED);
    assert_eq!(deploy(&author, 1).await.status, StatusCode::FORBIDDEN);
    assert_eq!(deploy(&deployer, 1).await.status, StatusCode::OK);
    assert_eq!(
        app.call(Method::GET, "/v1/resolve/p", &reader, None)
            .await
            .status,
        StatusCode::OK
    );
    let env = app
        .call(
            Method::POST,
            "/v1/environments",
            &deployer,
            Some(json!({"name": "qa"})),
        )
        .await;
    assert_eq!(env.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.call(
            Method::POST,
            "/v1/tokens",
            &deployer,
            Some(json!({"name": "x", "role": "reader"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::GET, "/v1/tokens", &author, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // A refused write stored nothing.
    assert_eq!(
        app.get("/v1/prompts/p/versions").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.get("/v1/environments/qa").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn tokens_are_shown_once_and_revoked_at_once(app: &TestApp) {
    let created = app
        .post("/v1/tokens", json!({"name": "ci", "role": "author"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let secret = created.body["token"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["role"], "author");
    let list = app.get("/v1/tokens").await;
    let listed = list.body["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(
        !list.body.to_string().contains(&secret),
        "the secret is never listed"
    );
    assert_eq!(
        app.call(Method::GET, "/v1/prompts", &secret, None)
            .await
            .status,
        StatusCode::OK
    );
    let revoked = app
        .call(Method::DELETE, &format!("/v1/tokens/{id}"), ADMIN, None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = app.call(Method::GET, "/v1/prompts", &secret, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.call(Method::DELETE, &format!("/v1/tokens/{id}"), ADMIN, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(app.get("/v1/tokens").await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let bad_role = app
        .post("/v1/tokens", json!({"name": "x", "role": "root"}))
        .await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_role.message().contains("role"),
        "{}",
        bad_role.message()
    );
    let empty = app
        .post("/v1/tokens", json!({"name": "", "role": "reader"}))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A restarted server (fresh index over the same store) still knows the tokens.
    let reader = app.token("reader").await;
    let restarted = promptreg_server::state_for_store(app.store.clone(), ADMIN)
        .await
        .unwrap();
    let router = promptreg_server::router(restarted, 1024);
    let req = axum::http::Request::get("/v1/prompts")
        .header("authorization", format!("Bearer {reader}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(router, req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn key_pairs_authenticate_with_basic_auth(app: &TestApp) {
    let kp = app
        .post(
            "/v1/key-pairs",
            json!({"name": "langfuse sdk", "role": "reader"}),
        )
        .await;
    assert_eq!(kp.status, StatusCode::CREATED, "{}", kp.body);
    let pk = kp.body["public_key"].as_str().unwrap();
    let sk = kp.body["secret_key"].as_str().unwrap();
    assert!(pk.starts_with("pk-") && sk.starts_with("sk-"));
    let basic = |user: &str, pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    };
    // Key pairs are for the Langfuse-compatible routes; /v1 takes Bearer tokens only.
    let v1 = app
        .raw(
            Method::GET,
            "/v1/prompts",
            None,
            vec![],
            &[("authorization", &basic(pk, sk))],
        )
        .await;
    assert_eq!(v1.status, StatusCode::UNAUTHORIZED);
    assert!(v1.message().contains("Bearer"), "{}", v1.message());
    let ok = app
        .raw(
            Method::GET,
            "/api/public/v2/prompts",
            None,
            vec![],
            &[("authorization", &basic(pk, sk))],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let bad = app
        .raw(
            Method::GET,
            "/api/public/v2/prompts",
            None,
            vec![],
            &[("authorization", &basic(pk, "sk-wrong"))],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let listed = app.get("/v1/tokens").await;
    assert_eq!(listed.body["items"][0]["kind"], "key_pair");
    assert_eq!(listed.body["items"][0]["public_key"], pk);
}
