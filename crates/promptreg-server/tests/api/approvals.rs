//! Change requests and approvals for protected environments: the two-person flow, every bad
//! input (each changes nothing), break-glass, rollback without approval, Langfuse labels and
//! rollouts that may not bypass it, expiry, and concurrent applies that deploy once.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Answer, TestApp, ADMIN};

mod bypass;

both_backends!(
    the_two_person_flow_deploys_what_was_approved,
    bad_reviews_and_applies_change_nothing,
    bad_requests_change_nothing,
    environments_set_how_many_approvals_a_request_needs,
);

/// The people of the flow: an author, a deployer who asks, a reviewer who approves.
struct People {
    author: String,
    deployer: String,
    reviewer: String,
}

async fn people(app: &TestApp) -> People {
    People {
        author: app.token("author").await,
        deployer: app.token("deployer").await,
        reviewer: app.token("reviewer").await,
    }
}

/// Protects `production` (recorded as an event) and has the author publish `p` v1 and v2.
async fn setup(app: &TestApp, who: &People) {
    let a = app
        .call(
            Method::PATCH,
            "/v1/environments/production",
            ADMIN,
            Some(json!({"protected": true})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["protected"], true);
    assert_eq!(a.body["approvals_required"], 1);
    for t in ["one", "two"] {
        let a = app
            .call(
                Method::POST,
                "/v1/prompts/p/versions",
                &who.author,
                Some(json!({"type": "text", "template": t})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    }
}

async fn request(app: &TestApp, token: &str, version: i64) -> Answer {
    app.call(
        Method::POST,
        "/v1/change-requests",
        token,
        Some(json!({"env": "production", "prompt": "p", "version": version, "reason": "ship it"})),
    )
    .await
}

async fn act(app: &TestApp, token: &str, id: &str, action: &str, body: Option<Value>) -> Answer {
    app.call(
        Method::POST,
        &format!("/v1/change-requests/{id}/{action}"),
        token,
        body,
    )
    .await
}

/// Opens a request as the deployer and returns its id.
async fn open(app: &TestApp, who: &People, version: i64) -> String {
    let a = request(app, &who.deployer, version).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

fn kinds(events: &[promptreg_core::EventRecord]) -> Vec<&'static str> {
    events.iter().map(|e| e.change.kind()).collect()
}

async fn log(app: &TestApp) -> Vec<promptreg_core::EventRecord> {
    app.store
        .events_after(&promptreg_core::ProjectId::default(), 0, 10_000)
        .await
        .unwrap()
}

async fn the_two_person_flow_deploys_what_was_approved(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    // A direct deploy is refused, naming how to ask.
    let a = app
        .call(
            Method::PUT,
            "/v1/environments/production/prompts/p",
            &who.deployer,
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.code(), "approval_required");
    assert!(
        a.message().contains("POST /v1/change-requests"),
        "{}",
        a.message()
    );
    assert!(a.message().contains("promptreg request"), "{}", a.message());

    let a = request(app, &who.deployer, 1).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["status"], "pending");
    assert_eq!(a.body["reason"], "ship it");
    assert_eq!(a.body["approvals_required"], 1);
    assert!(a.body["requested_by"]
        .as_str()
        .unwrap()
        .ends_with(":deployer token"));
    assert!(a.body["version_author"]
        .as_str()
        .unwrap()
        .ends_with(":author token"));
    let id = a.body["id"].as_str().unwrap().to_owned();

    let a = act(
        app,
        &who.reviewer,
        &id,
        "approve",
        Some(json!({"comment": "lgtm"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["status"], "approved");
    assert_eq!(a.body["approvals"][0]["comment"], "lgtm");
    assert!(a.body["approvals"][0]["reviewer"]
        .as_str()
        .unwrap()
        .ends_with(":reviewer token"));

    let before = log(app).await.len();
    let a = act(app, &who.deployer, &id, "apply", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["change_request"]["status"], "applied");
    assert!(a.body["change_request"]["applied_at"].is_string());
    assert_eq!(a.body["deployment"]["to_version"], 1);
    assert_eq!(a.body["deployment"]["approval"], "change_request");
    assert_eq!(a.body["deployment"]["change_request"], id.as_str());
    let events = log(app).await;
    assert_eq!(
        kinds(&events[before..]),
        ["pointer_moved", "change_applied"],
        "the move and the applied request, in one unit of work"
    );

    let r = app.get("/v1/resolve/p?env=production").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["version"], 1);
    let h = app
        .get("/v1/environments/production/prompts/p/history")
        .await;
    assert_eq!(h.body["items"][0]["approval"], "change_request");
    assert_eq!(h.body["items"][0]["change_request"], id.as_str());

    let one = app.get(&format!("/v1/change-requests/{id}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["status"], "applied");
    let list = app
        .get("/v1/change-requests?status=applied&env=production&prompt=p")
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    let none = app.get("/v1/change-requests?status=pending").await;
    assert_eq!(none.body["items"], json!([]));
    let all = events.iter().map(|e| e.change.kind()).collect::<Vec<_>>();
    for k in [
        "environment_updated",
        "change_requested",
        "change_reviewed",
        "change_applied",
    ] {
        assert!(all.contains(&k), "{k} in {all:?}");
    }
}

async fn bad_reviews_and_applies_change_nothing(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    let id = open(app, &who, 1).await;
    let before = log(app).await.len();

    // The two-person rule: 403 for the requester and for the version's author.
    let a = act(app, &who.deployer, &id, "approve", None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(
        a.message().contains("you requested this change"),
        "{}",
        a.message()
    );
    let a = act(app, &who.author, &id, "approve", None).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "author may not review at all: {}",
        a.body
    );
    // An admin who wrote the version may review in general, but not this version.
    let a = app
        .call(
            Method::POST,
            "/v1/prompts/p/versions",
            ADMIN,
            Some(json!({"type": "text", "template": "three"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let own = open(app, &who, 3).await;
    let a = act(app, ADMIN, &own, "approve", None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(
        a.message().contains("author of the version"),
        "{}",
        a.message()
    );
    let before = before + 1 + 1; // the version and the request above
    assert_eq!(log(app).await.len(), before);

    // Still pending: applying is refused.
    let a = act(app, &who.deployer, &id, "apply", None).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.code(), "change_request_pending");
    // Unknown id: 404.
    let a = act(app, &who.reviewer, "no-such-request", "approve", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let a = app.get("/v1/change-requests/no-such-request").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    // A rejection needs a comment.
    let a = act(app, &who.reviewer, &id, "reject", None).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.message().contains("comment"), "{}", a.message());
    assert_eq!(log(app).await.len(), before, "refusals change nothing");

    // Approve, then approving again is 409.
    let a = act(app, &who.reviewer, &id, "approve", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = act(app, &who.reviewer, &id, "approve", None).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.code(), "already_reviewed");

    // Applied once; a second apply, and any review after it, is 409 naming the status.
    let a = act(app, &who.deployer, &id, "apply", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let after = log(app).await.len();
    for (token, action) in [(&who.deployer, "apply"), (&who.reviewer, "approve")] {
        let a = act(app, token, &id, action, Some(json!({"comment": "again"}))).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        assert_eq!(a.code(), "change_request_applied");
        assert!(a.message().contains("applied"), "{}", a.message());
    }
    let a = act(app, ADMIN, &id, "reject", Some(json!({"comment": "late"}))).await;
    assert_eq!(a.code(), "change_request_applied");

    // A rejection by any eligible reviewer is final.
    let id2 = open(app, &who, 2).await;
    let a = act(
        app,
        &who.reviewer,
        &id2,
        "reject",
        Some(json!({"comment": "not now"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["status"], "rejected");
    assert_eq!(a.body["rejections"][0]["comment"], "not now");
    let after = after + 2;
    for (token, action) in [(&who.deployer, "apply"), (&ADMIN.to_owned(), "approve")] {
        let a = act(app, token, &id2, action, None).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        assert_eq!(a.code(), "change_request_rejected");
    }
    assert_eq!(log(app).await.len(), after, "refusals change nothing");
    let live = app.get("/v1/resolve/p?env=production").await;
    assert_eq!(
        live.body["version"], 1,
        "the rejected version 2 never went live"
    );
}

async fn bad_requests_change_nothing(app: &TestApp) {
    let who = people(app).await;
    setup(app, &who).await;
    let before = log(app).await.len();
    let post = |body: Value| {
        let token = who.deployer.clone();
        async move {
            app.call(Method::POST, "/v1/change-requests", &token, Some(body))
                .await
        }
    };
    // Missing or empty reason.
    let a = post(json!({"env": "production", "prompt": "p", "version": 1})).await;
    assert!(a.status.is_client_error(), "{}", a.body);
    assert!(a.message().contains("reason"), "{}", a.message());
    let a = post(json!({"env": "production", "prompt": "p", "version": 1, "reason": "  "})).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.message().contains("reason"), "{}", a.message());
    // Unknown version, prompt, environment.
    let a = post(json!({"env": "production", "prompt": "p", "version": 9, "reason": "r"})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let a = post(json!({"env": "production", "prompt": "q", "version": 1, "reason": "r"})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let a = post(json!({"env": "nowhere", "prompt": "p", "version": 1, "reason": "r"})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    // An unprotected environment needs no approval.
    let a = post(json!({"env": "staging", "prompt": "p", "version": 1, "reason": "r"})).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.code(), "approval_not_needed");
    // A reader may not ask.
    let reader = app.token("reader").await;
    let a = request(app, &reader, 1).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // A bad status filter.
    let a = app.get("/v1/change-requests?status=maybe").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(
        log(app).await.len(),
        before + 1,
        "only the reader's token was created"
    );
}

async fn environments_set_how_many_approvals_a_request_needs(app: &TestApp) {
    let who = people(app).await;
    let a = app
        .post(
            "/v1/environments",
            json!({"name": "prod-eu", "protected": true, "approvals_required": 2}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["approvals_required"], 2);
    for bad in [
        json!({"approvals_required": 0}),
        json!({"approvals_required": 11}),
        json!({}),
    ] {
        let a = app
            .call(Method::PATCH, "/v1/environments/prod-eu", ADMIN, Some(bad))
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    }
    let a = app
        .call(
            Method::PATCH,
            "/v1/environments/prod-eu",
            &who.deployer,
            Some(json!({"protected": false})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "only admins: {}", a.body);
    app.call(
        Method::POST,
        "/v1/prompts/p/versions",
        &who.author,
        Some(json!({"type": "text", "template": "x"})),
    )
    .await;
    let a = app
        .call(
            Method::POST,
            "/v1/change-requests",
            &who.deployer,
            Some(json!({"env": "prod-eu", "prompt": "p", "version": 1, "reason": "r"})),
        )
        .await;
    let id = a.body["id"].as_str().unwrap().to_owned();
    let a = act(app, &who.reviewer, &id, "approve", None).await;
    assert_eq!(
        a.body["status"], "pending",
        "one of two approvals: {}",
        a.body
    );
    let a = act(app, &who.deployer, &id, "apply", None).await;
    assert_eq!(a.code(), "change_request_pending");
    assert!(a.message().contains("1 of the 2"), "{}", a.message());
    let a = act(app, ADMIN, &id, "approve", None).await;
    assert_eq!(a.body["status"], "approved", "{}", a.body);
    let a = act(app, &who.deployer, &id, "apply", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let env = app.get("/v1/environments/prod-eu").await;
    assert_eq!(env.body["approvals_required"], 2);
}
