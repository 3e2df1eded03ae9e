//! Authorization cannot be forgotten: every route of the OpenAPI document (generated from the
//! route table) is called with every role, and must refuse exactly the roles below the one
//! it needs. A route added without an entry here fails the test.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN};

/// The least role each route needs (`None`: no authentication at all).
fn needed(method: &str, path: &str) -> Option<Option<&'static str>> {
    let role = match (method, path) {
        ("get", "/healthz" | "/readyz" | "/metrics" | "/openapi.json") => None,
        ("put" | "patch" | "delete", "/v1/prompts/{name}/versions/{version}") => None,
        ("post", "/v1/prompts/{name}/versions") => Some("author"),
        ("post", "/api/public/v2/prompts") => Some("author"),
        ("put", "/v1/environments/{env}/prompts/{name}") => Some("deployer"),
        ("post", "/v1/environments/{env}/prompts/{name}/rollback") => Some("deployer"),
        ("patch", "/api/public/v2/prompts/{name}/versions/{version}") => Some("deployer"),
        ("post", "/v1/environments") => Some("admin"),
        ("patch", "/v1/environments/{env}") => Some("admin"),
        ("post", "/v1/change-requests") => Some("author"),
        ("get", "/v1/change-requests" | "/v1/change-requests/{id}") => Some("reader"),
        ("post", "/v1/change-requests/{id}/approve" | "/v1/change-requests/{id}/reject") => {
            Some("reviewer")
        }
        ("post", "/v1/change-requests/{id}/apply") => Some("deployer"),
        ("post" | "get", "/v1/tokens") | ("delete", "/v1/tokens/{id}") => Some("admin"),
        ("post", "/v1/key-pairs") => Some("admin"),
        ("post", "/v1/environments/{env}/prompts/{name}/rollouts") => Some("deployer"),
        (
            "post",
            "/v1/rollouts/{id}/promote"
            | "/v1/rollouts/{id}/pause"
            | "/v1/rollouts/{id}/resume"
            | "/v1/rollouts/{id}/abort",
        ) => Some("deployer"),
        ("post", "/v1/rollouts/{id}/skip-analysis") => Some("admin"),
        ("post" | "get", "/v1/webhooks")
        | ("get" | "delete", "/v1/webhooks/{id}")
        | ("get", "/v1/webhooks/{id}/deliveries") => Some("admin"),
        ("post", "/v1/hooks/abort") => Some("deployer"),
        ("post", "/v1/keys/signing/rotate") => Some("admin"),
        ("post", "/v1/keys/kek/rotate") => Some("admin"),
        ("post", "/v1/export/sign" | "/v1/import") => Some("admin"),
        ("put", "/v1/lifecycle") | ("post", "/v1/prune") => Some("admin"),
        ("get", "/v1/audit" | "/v1/audit/export") => Some("reviewer"),
        // No project role reaches it: server administrators only.
        ("post", "/v1/projects") => Some(SERVER_ADMIN),
        (
            "get",
            "/v1/prompts"
            | "/v1/prompts/{name}"
            | "/v1/prompts/{name}/diff"
            | "/v1/prompts/{name}/versions"
            | "/v1/prompts/{name}/versions/{version}"
            | "/v1/environments"
            | "/v1/environments/{env}"
            | "/v1/environments/{env}/catalog"
            | "/v1/environments/{env}/snapshot"
            | "/v1/watch"
            | "/v1/environments/{env}/prompts/{name}"
            | "/v1/environments/{env}/prompts/{name}/history"
            | "/v1/environments/{env}/prompts/{name}/rollouts"
            | "/v1/environments/{env}/prompts/{name}/rollouts/current"
            | "/v1/rollouts"
            | "/v1/rollouts/{id}"
            | "/v1/prompts/{name}/versions/{version}/outcomes"
            | "/v1/resolve/{name}"
            | "/v1/keys"
            | "/v1/ledger/checkpoint"
            | "/v1/ledger/entries"
            | "/v1/ledger/proofs/inclusion"
            | "/v1/ledger/proofs/consistency"
            | "/v1/lifecycle"
            | "/api/public/v2/prompts"
            | "/api/public/v2/prompts/{name}"
            | "/api/public/projects"
            | "/v1/projects",
        ) => Some("reader"),
        ("post", "/v1/resolve/{name}/render") => Some("reader"),
        ("post", "/v1/outcomes") => Some("reader"),
        ("delete", "/api/public/v2/prompts/{name}") => Some("reader"),
        // Validation results and promotion gates.
        ("post", "/v1/prompts/{name}/versions/{version}/validations") => Some("author"),
        ("put", "/v1/environments/{env}/gates") => Some("admin"),
        (
            "get",
            "/v1/prompts/{name}/versions/{version}/validations" | "/v1/environments/{env}/gates",
        ) => Some("reader"),
        _ => return None,
    };
    Some(role)
}

/// A request body each route accepts from a caller with the right.
fn body(method: &str, path: &str) -> Option<Value> {
    Some(match (method, path) {
        ("post", "/v1/prompts/{name}/versions") => json!({"type": "text", "template": "x {{ n }}"}),
        ("post", "/api/public/v2/prompts") => json!({"name": "lf", "prompt": "hi", "type": "text"}),
        ("put", "/v1/environments/{env}/prompts/{name}") => json!({"version": 2}),
        ("post", "/v1/environments/{env}/prompts/{name}/rollback") => json!({}),
        ("patch", "/api/public/v2/prompts/{name}/versions/{version}") => {
            json!({"newLabels": ["staging"]})
        }
        ("post", "/v1/environments") => json!({"name": "e"}),
        ("patch", "/v1/environments/{env}") => json!({"approvals_required": 1}),
        // `staging` is not protected: allowed roles get 409 `approval_not_needed`.
        ("post", "/v1/change-requests") => {
            json!({"env": "staging", "prompt": "p", "version": 1, "reason": "r"})
        }
        ("post", "/v1/change-requests/{id}/reject") => json!({"comment": "no"}),
        ("post", "/v1/tokens" | "/v1/key-pairs") => json!({"name": "t", "role": "reader"}),
        ("post", "/v1/resolve/{name}/render") => json!({"variables": {"n": 1}}),
        ("post", "/v1/outcomes") => {
            json!({"events": [{"id": "e1", "prompt": "p", "env": "staging", "version": 1, "success": true}]})
        }
        ("post", "/v1/environments/{env}/prompts/{name}/rollouts") => {
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"pause": {}}]}}})
        }
        ("post", "/v1/webhooks") => json!({"url": "http://127.0.0.1:9/hook"}),
        ("post", "/v1/export/sign") => {
            json!({"digest": format!("sha256:{}", "0".repeat(64)), "tree_size": 1})
        }
        // Parses as a bundle, so the policy answers first; the admin gets 422 (no snapshot).
        ("post", "/v1/import") => {
            json!({"format": "promptreg-bundle/v1", "snapshot": {}, "signature": {}})
        }
        ("put", "/v1/lifecycle") => json!({"keep_last": 3}),
        ("post", "/v1/prune") => json!({"dry_run": true}),
        ("post", "/v1/projects") => json!({"id": "new-project"}),
        // Names no rollout that exists: allowed roles get 404, the others 403.
        ("post", "/v1/hooks/abort") => json!({"rollout": "no-such-rollout"}),
        ("post", "/v1/prompts/{name}/versions/{version}/validations") => {
            json!({"suite": "s", "passed": true, "tool": {"name": "ci", "version": "1"}})
        }
        ("put", "/v1/environments/{env}/gates") => json!({}),
        _ => return None,
    })
}

const ROLES: [&str; 5] = ["reader", "author", "reviewer", "deployer", "admin"];

/// What a route needs when no project role is enough.
const SERVER_ADMIN: &str = "server-admin";

/// The answer to one request; a stream (`/v1/watch`) is answered by its status, without
/// reading a body that never ends.
async fn answer(
    app: &TestApp,
    m: Method,
    uri: &str,
    token: Option<&str>,
    bytes: Vec<u8>,
) -> crate::helpers::Answer {
    if uri.starts_with("/v1/watch") {
        return match crate::watch::sse::open_as(&app.router, uri, token, &[]).await {
            Ok(_) => crate::helpers::Answer {
                status: StatusCode::OK,
                headers: Default::default(),
                body: serde_json::Value::Null,
            },
            Err(a) => a,
        };
    }
    app.raw(
        m,
        uri,
        token,
        bytes,
        &[("content-type", "application/json")],
    )
    .await
}

async fn every_route_refuses_exactly_the_roles_below_its_need(app: &TestApp) {
    app.push("p", "one").await;
    app.push("p", "two").await;
    app.deploy("staging", "p", 1).await;
    let rollout = app
        .post(
            "/v1/environments/staging/prompts/p/rollouts",
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"pause": {}}]}}}),
        )
        .await;
    assert_eq!(rollout.status, StatusCode::CREATED, "{}", rollout.body);
    let rollout_id = rollout.body["id"].as_str().unwrap().to_owned();
    let tokens: Vec<(String, String)> =
        futures::future::join_all(ROLES.map(|r| async move { (r.to_owned(), app.token(r).await) }))
            .await;
    let doc = app.get("/openapi.json").await.body;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let need = needed(method, path).unwrap_or_else(|| {
                panic!("{method} {path}: no authorization expectation in authz.rs")
            });
            let uri = path
                .replace("{name}", "p")
                .replace("{version}", "1")
                .replace("{env}", "staging")
                .replace(
                    "{id}",
                    if path.starts_with("/v1/rollouts/") {
                        &rollout_id
                    } else {
                        "tok_unknown"
                    },
                );
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let bytes = body(method, path)
                .map(|b| serde_json::to_vec(&b).unwrap())
                .unwrap_or_default();
            let anonymous = answer(app, m.clone(), &uri, None, bytes.clone()).await;
            match need {
                None => assert_ne!(
                    anonymous.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} wants no token"
                ),
                Some(_) => assert_eq!(
                    anonymous.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} without a token"
                ),
            }
            for (i, (role, token)) in tokens.iter().enumerate() {
                let a = answer(app, m.clone(), &uri, Some(token), bytes.clone()).await;
                let allowed = need.is_none_or(|n| {
                    ROLES
                        .iter()
                        .position(|r| *r == n)
                        .is_some_and(|needed| needed <= i)
                });
                if allowed {
                    assert_ne!(
                        a.status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} refused {role}: {}",
                        a.body
                    );
                    assert_ne!(
                        a.status,
                        StatusCode::UNAUTHORIZED,
                        "{method} {path} with {role}: {}",
                        a.body
                    );
                } else {
                    assert_eq!(
                        a.status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} let {role} through: {}",
                        a.body
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 30 * 5, "only {checked} route × role checks");
}

/// The policy asks a deployer for a deploy into a protected environment like any other
/// (the workflow protects it, with approvals); rolling back stays a deployer's right.
async fn protected_environments_take_no_higher_role_in_the_policy(app: &TestApp) {
    app.push("p", "one").await;
    app.push("p", "two").await;
    let a = app
        .post(
            "/v1/environments",
            json!({"name": "prod-eu", "protected": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    for v in [1, 2] {
        let glass = json!({"version": v, "break_glass": true, "reason": "seed"});
        let a = app.put("/v1/environments/prod-eu/prompts/p", glass).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let (author, deployer) = (app.token("author").await, app.token("deployer").await);
    let path = "/v1/environments/prod-eu/prompts/p";
    let a = app
        .call(Method::PUT, path, &deployer, Some(json!({"version": 1})))
        .await;
    assert_ne!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = app
        .call(Method::PUT, path, &author, Some(json!({"version": 1})))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(
        a.message(),
        "role 'author' may not deploy 'p' in the protected environment 'prod-eu': \
         no policy permits it; it needs role 'deployer'"
    );
    let a = app
        .call(
            Method::POST,
            &format!("{path}/rollback"),
            &deployer,
            Some(json!({"reason": "incident"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// Every change records the ids of the policies that allowed it, in the ledger's leaf (the
/// stored event); a change the policy was not asked for records none.
async fn changes_record_the_policies_that_allowed_them(app: &TestApp) {
    let author = app.token("author").await;
    let deployer = app.token("deployer").await;
    let a = app
        .call(
            Method::POST,
            "/v1/prompts/p/versions",
            &author,
            Some(json!({"type": "text", "template": "hi"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = app
        .call(
            Method::PUT,
            "/v1/environments/staging/prompts/p",
            &deployer,
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = app.get("/v1/ledger/entries?start=0&limit=1000").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let leaves: Vec<&Value> = a.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["leaf"])
        .collect();
    let of = |kind: &str| {
        leaves
            .iter()
            .rev()
            .find(|l| l["change"]["event"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {leaves:?}"))
    };
    assert_eq!(
        of("version_created")["policies"],
        json!(["author-may-author"])
    );
    assert_eq!(
        of("pointer_moved")["policies"],
        json!(["deployer-may-deploy"])
    );
    assert_eq!(
        of("token_created")["policies"],
        json!(["admin-may-administer"])
    );
}

both_backends!(
    every_route_refuses_exactly_the_roles_below_its_need,
    protected_environments_take_no_higher_role_in_the_policy,
    changes_record_the_policies_that_allowed_them,
    protected_environments_need_approval_or_break_glass_but_deployers_may_roll_back,
);

async fn protected_environments_need_approval_or_break_glass_but_deployers_may_roll_back(
    app: &TestApp,
) {
    app.push("p", "one").await;
    app.push("p", "two").await;
    let a = app
        .post(
            "/v1/environments",
            json!({"name": "prod-eu", "protected": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let deployer = app.token("deployer").await;
    let path = "/v1/environments/prod-eu/prompts/p";
    for token in [deployer.as_str(), ADMIN] {
        let a = app
            .call(Method::PUT, path, token, Some(json!({"version": 1})))
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        assert_eq!(a.code(), "approval_required");
        assert!(a.message().contains("protected"), "{}", a.message());
    }
    let glass = json!({"version": 1, "break_glass": true, "reason": "outage"});
    let a = app.call(Method::PUT, path, &deployer, Some(glass)).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "only admins break glass: {}",
        a.body
    );
    for v in [1, 2] {
        let glass = json!({"version": v, "break_glass": true, "reason": "outage"});
        let a = app.call(Method::PUT, path, ADMIN, Some(glass)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let a = app
        .call(
            Method::POST,
            &format!("{path}/rollback"),
            &deployer,
            Some(json!({"reason": "incident"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["to_version"], 1);
}
