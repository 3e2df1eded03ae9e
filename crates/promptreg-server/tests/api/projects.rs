//! Projects (tenants): a server administrator creates them; each starts with its own
//! environments, log and tokens; and nothing of one is visible from another: every name,
//! version, environment, token, rollout and webhook of project A answers 404 (or is absent
//! from a list) to a caller of project B, exactly as if it did not exist.

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Answer, TestApp, ADMIN};

both_backends!(
    server_admins_create_projects_that_start_like_the_default_one,
    a_project_sees_nothing_of_another,
    the_langfuse_routes_act_in_the_key_pairs_project,
);

/// Creates project `id` and an admin token in it; returns the token.
pub(crate) async fn project_with_admin(app: &TestApp, id: &str) -> String {
    let a = app.post("/v1/projects", json!({"id": id})).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let t = app
        .post(
            "/v1/tokens",
            json!({"name": format!("{id} admin"), "role": "admin", "project": id}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    assert_eq!(t.body["project"], id);
    t.body["token"].as_str().unwrap().to_owned()
}

fn ids(list: &Answer, key: &str) -> Vec<String> {
    list.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", list.body))
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn server_admins_create_projects_that_start_like_the_default_one(app: &TestApp) {
    let a = app
        .post(
            "/v1/projects",
            json!({"id": "team-b", "description": "the B team"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["id"], "team-b");
    assert_eq!(a.body["description"], "the B team");
    assert!(a.body["created_by"]
        .as_str()
        .unwrap()
        .starts_with("bootstrap-admin:"));

    let again = app.post("/v1/projects", json!({"id": "team-b"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.code(), "already_exists");
    assert!(again.message().contains("team-b"), "{}", again.message());
    for bad in ["Team B", "", "-b", &"x".repeat(64)] {
        let a = app.post("/v1/projects", json!({"id": bad})).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", a.body);
        assert!(a.message().contains("id"), "{}", a.message());
    }
    let unknown = app
        .post("/v1/projects", json!({"id": "c", "owner": "x"}))
        .await;
    assert!(unknown.status.is_client_error(), "{}", unknown.body);

    let all = app.get("/v1/projects").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(ids(&all, "id"), ["default", "team-b"]);

    let b_admin = project_with_admin(app, "team-c").await;
    // Its own log starts with project_created and its first environments.
    let envs = app
        .call(Method::GET, "/v1/environments", &b_admin, None)
        .await;
    assert_eq!(envs.status, StatusCode::OK, "{}", envs.body);
    assert_eq!(ids(&envs, "name"), ["development", "production", "staging"]);
    let entries = app
        .call(Method::GET, "/v1/ledger/entries", &b_admin, None)
        .await;
    assert_eq!(entries.status, StatusCode::OK, "{}", entries.body);
    let kinds: Vec<&str> = entries.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["leaf"]["change"]["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            "project_created",
            "environment_created",
            "environment_created",
            "environment_created",
            "token_created"
        ],
        "{}",
        entries.body
    );

    // A project admin is no server admin: it sees its own project only and creates none.
    let mine = app.call(Method::GET, "/v1/projects", &b_admin, None).await;
    assert_eq!(ids(&mine, "id"), ["team-c"]);
    let refused = app
        .call(
            Method::POST,
            "/v1/projects",
            &b_admin,
            Some(json!({"id": "d"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.message().contains("server administrator"),
        "{}",
        refused.message()
    );
    let listed = app.get("/v1/projects").await;
    assert_eq!(ids(&listed, "id"), ["default", "team-b", "team-c"]);
}

/// What project A holds, for B to look for.
struct Holdings {
    rollout: String,
    webhook: String,
    token: String,
}

async fn fill_default_project(app: &TestApp) -> Holdings {
    app.push("p", "A one {{ x }}").await;
    app.push("p", "A two {{ x }}").await;
    app.env("only-a").await;
    assert_eq!(app.deploy("staging", "p", 1).await.status, StatusCode::OK);
    assert_eq!(app.deploy("only-a", "p", 1).await.status, StatusCode::OK);
    let rollout = app
        .post(
            "/v1/environments/staging/prompts/p/rollouts",
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"pause": {}}]}}}),
        )
        .await;
    assert_eq!(rollout.status, StatusCode::CREATED, "{}", rollout.body);
    // Let the controller record its pause before the tests count events.
    app.wait_for_rollout(rollout.body["id"].as_str().unwrap(), |r| {
        r["paused_reason"] == "pause_step"
    })
    .await;
    let webhook = app
        .post("/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook"}))
        .await;
    assert_eq!(webhook.status, StatusCode::CREATED, "{}", webhook.body);
    let token = app
        .post("/v1/tokens", json!({"name": "a reader", "role": "reader"}))
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.body);
    Holdings {
        rollout: rollout.body["id"].as_str().unwrap().to_owned(),
        webhook: webhook.body["id"].as_str().unwrap().to_owned(),
        token: token.body["id"].as_str().unwrap().to_owned(),
    }
}

async fn a_project_sees_nothing_of_another(app: &TestApp) {
    let held = fill_default_project(app).await;
    let b = project_with_admin(app, "team-b").await;
    let (r, w, t) = (&held.rollout, &held.webhook, &held.token);

    // Every read and write of A's things by name or id answers B exactly as for things that
    // exist nowhere (404, or an empty list), and changes nothing.
    let events_before = app.events().await;
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/prompts/{p}".into(), None),
        (Method::GET, "/v1/prompts/{p}/versions".into(), None),
        (Method::GET, "/v1/prompts/{p}/versions/1".into(), None),
        (Method::GET, "/v1/prompts/{p}/diff".into(), None),
        (
            Method::GET,
            "/v1/prompts/{p}/versions/1/outcomes?env=staging".into(),
            None,
        ),
        (Method::GET, "/v1/environments/{e}".into(), None),
        (Method::GET, "/v1/environments/{e}/catalog".into(), None),
        (
            Method::GET,
            "/v1/environments/staging/prompts/{p}".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/environments/staging/prompts/{p}/history".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/environments/staging/prompts/{p}/rollouts".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/environments/staging/prompts/{p}/rollouts/current".into(),
            None,
        ),
        (Method::GET, "/v1/resolve/{p}?env=staging".into(), None),
        (Method::GET, "/v1/rollouts/{r}".into(), None),
        (Method::GET, "/v1/webhooks/{w}".into(), None),
        (Method::GET, "/v1/webhooks/{w}/deliveries".into(), None),
        (
            Method::PUT,
            "/v1/environments/staging/prompts/{p}".into(),
            Some(json!({"version": 1})),
        ),
        (
            Method::PUT,
            "/v1/environments/{e}/prompts/{p}".into(),
            Some(json!({"version": 1})),
        ),
        (
            Method::POST,
            "/v1/environments/staging/prompts/{p}/rollback".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/environments/staging/prompts/{p}/rollouts".into(),
            Some(json!({"candidate": 2, "strategy": {"canary": {"steps": [{"pause": {}}]}}})),
        ),
        (
            Method::POST,
            "/v1/rollouts/{r}/pause".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/rollouts/{r}/resume".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/rollouts/{r}/promote".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/rollouts/{r}/abort".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/rollouts/{r}/skip-analysis".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/hooks/abort".into(),
            Some(json!({"rollout": "{r}"})),
        ),
        (Method::DELETE, "/v1/tokens/{t}".into(), None),
        (Method::DELETE, "/v1/webhooks/{w}".into(), None),
        (
            Method::POST,
            "/v1/resolve/{p}/render?env=staging".into(),
            Some(json!({"variables": {"x": 1}})),
        ),
    ];
    let fill = |text: &str, p: &str, e: &str| {
        text.replace("{p}", p)
            .replace("{e}", e)
            .replace("{r}", if p == "p" { r } else { "ro_nowhere" })
            .replace("{w}", if p == "p" { w } else { "wh_nowhere" })
            .replace("{t}", if p == "p" { t } else { "tok_nowhere" })
    };
    for (method, template, body) in calls {
        let answer = |p: &'static str, e: &'static str| {
            let path = fill(&template, p, e);
            let body = body
                .as_ref()
                .map(|b| serde_json::from_str(&fill(&b.to_string(), p, e)).unwrap());
            let (method, b) = (method.clone(), &b);
            async move { app.call(method, &path, b, body).await }
        };
        let theirs = answer("p", "only-a").await;
        let nowhere = answer("nowhere", "nowhere-env").await;
        assert!(
            theirs.status == StatusCode::NOT_FOUND
                || (theirs.status == StatusCode::OK && theirs.body["items"] == json!([])),
            "{method} {template}: {} {}",
            theirs.status,
            theirs.body
        );
        assert_eq!(theirs.status, nowhere.status, "{method} {template}");
        let anonymised = |a: &Answer| {
            let mut text = a.body.to_string();
            for (real, ghost) in [
                (r.as_str(), "ID"),
                (w.as_str(), "ID"),
                (t.as_str(), "ID"),
                ("ro_nowhere", "ID"),
                ("wh_nowhere", "ID"),
                ("tok_nowhere", "ID"),
                ("nowhere-env", "E"),
                ("only-a", "E"),
                ("nowhere", "P"),
                ("'p'", "'P'"),
            ] {
                text = text.replace(real, ghost);
            }
            text
        };
        assert_eq!(
            anonymised(&theirs),
            anonymised(&nowhere),
            "{method} {template}: A's things must look like nothing"
        );
    }
    // (The rollout controller may record its own passes meanwhile; B may record nothing.)
    let since = app
        .store
        .events_after(
            &promptreg_core::ProjectId::default(),
            events_before as i64,
            1000,
        )
        .await
        .unwrap();
    assert!(
        since.iter().all(|e| !e.actor.contains("team-b")),
        "B's calls changed A's log: {since:?}"
    );
    // A's things still work for A.
    let still = app.get(&format!("/v1/rollouts/{r}")).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
    assert_ne!(still.body["status"], "aborted", "{}", still.body);

    // Lists show only B's own things.
    for path in [
        "/v1/prompts",
        "/v1/rollouts",
        "/v1/webhooks",
        "/v1/environments/staging/catalog",
    ] {
        let a = app.call(Method::GET, path, &b, None).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
        assert_eq!(a.body["items"], json!([]), "{path}: {}", a.body);
    }
    let envs = app.call(Method::GET, "/v1/environments", &b, None).await;
    assert!(
        !ids(&envs, "name").contains(&"only-a".to_owned()),
        "{}",
        envs.body
    );
    let tokens = app.call(Method::GET, "/v1/tokens", &b, None).await;
    assert_eq!(ids(&tokens, "name"), ["team-b admin"], "{}", tokens.body);
    let checkpoint = app
        .call(Method::GET, "/v1/ledger/checkpoint", &b, None)
        .await;
    assert_eq!(checkpoint.status, StatusCode::OK, "{}", checkpoint.body);
    assert_eq!(
        checkpoint.body["tree_size"], 5,
        "B's own log: {}",
        checkpoint.body
    );
    let outcome = app
        .call(
            Method::POST,
            "/v1/outcomes",
            &b,
            Some(json!({"events": [{"id": "e1", "prompt": "p", "env": "staging", "version": 1, "success": true}]})),
        )
        .await;
    assert_eq!(outcome.body["accepted"], 0, "{}", outcome.body);

    // The same name in B is B's own prompt; the resolve index keeps the two apart.
    let pushed = app
        .call(
            Method::POST,
            "/v1/prompts/p/versions",
            &b,
            Some(json!({"type": "text", "template": "B one"})),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    assert_eq!(pushed.body["version"], 1);
    let deployed = app
        .call(
            Method::PUT,
            "/v1/environments/production/prompts/p",
            &b,
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(deployed.status, StatusCode::OK, "{}", deployed.body);
    let mine = app
        .call(Method::GET, "/v1/resolve/p?env=production", &b, None)
        .await;
    assert_eq!(mine.body["template"], "B one");
    let theirs = app.get("/v1/resolve/p?env=production").await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    let theirs = app.get("/v1/resolve/p?env=staging").await;
    assert_eq!(theirs.body["template"], "A one {{ x }}");
    // And A cannot see B's version 1 by way of its own name either.
    let a_latest = app.get("/v1/prompts/p").await;
    assert_eq!(a_latest.body["latest_version"], 2, "{}", a_latest.body);

    // A token of A names B: 404, like any foreign resource (a server admin may).
    let a_admin = app.token("admin").await;
    let foreign = app
        .call(
            Method::POST,
            "/v1/tokens",
            &a_admin,
            Some(json!({"name": "x", "role": "reader", "project": "team-b"})),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    let own = app.call(Method::GET, "/v1/projects", &a_admin, None).await;
    assert_eq!(ids(&own, "id"), ["default"]);
    let _ = ADMIN;
}

async fn the_langfuse_routes_act_in_the_key_pairs_project(app: &TestApp) {
    app.push("shared-name", "A's").await;
    let b = project_with_admin(app, "team-b").await;
    let pair = app
        .call(
            Method::POST,
            "/v1/key-pairs",
            &b,
            Some(json!({"name": "sdk", "role": "deployer"})),
        )
        .await;
    assert_eq!(pair.status, StatusCode::CREATED, "{}", pair.body);
    assert_eq!(pair.body["project"], "team-b");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            pair.body["public_key"].as_str().unwrap(),
            pair.body["secret_key"].as_str().unwrap()
        ))
    );
    let lf = |method: Method, path: &'static str, body: Option<Value>| {
        let basic = basic.clone();
        async move {
            let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
            app.raw(
                method,
                path,
                None,
                bytes,
                &[
                    ("authorization", &basic),
                    ("content-type", "application/json"),
                ],
            )
            .await
        }
    };
    let list = lf(Method::GET, "/api/public/v2/prompts", None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["data"], json!([]), "{}", list.body);
    let one = lf(Method::GET, "/api/public/v2/prompts/shared-name", None).await;
    assert_eq!(one.status, StatusCode::NOT_FOUND, "{}", one.body);
    let projects = lf(Method::GET, "/api/public/projects", None).await;
    assert_eq!(
        projects.body["data"][0]["id"], "team-b",
        "{}",
        projects.body
    );
    let created = lf(
        Method::POST,
        "/api/public/v2/prompts",
        Some(json!({"name": "b-only", "prompt": "B's", "type": "text", "labels": ["production"]})),
    )
    .await;
    assert!(created.status.is_success(), "{}", created.body);
    let list = lf(Method::GET, "/api/public/v2/prompts", None).await;
    let names: Vec<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b-only"]);
    let in_a = app.get("/v1/prompts/b-only").await;
    assert_eq!(in_a.status, StatusCode::NOT_FOUND, "{}", in_a.body);
}

/// Two servers on one PostgreSQL database: a project created on one, and a token issued in it,
/// work on the other as soon as its change feed delivers them (the new project's log starts
/// at seq 1, which the feed applies like any project's next event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_follows_a_project_created_on_another() {
    let Some(replicas) = promptreg_server::testing::Replicas::start(
        "a_replica_follows_a_project_created_on_another",
    )
    .await
    else {
        return;
    };
    let (a, b) = (&replicas.a, &replicas.b);
    let c = reqwest::Client::new();
    let send =
        |base: &str, method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
            let mut req = c
                .request(method, format!("{base}{path}"))
                .bearer_auth(token);
            if let Some(body) = body {
                req = req.json(&body);
            }
            async move {
                let res = req.send().await.unwrap();
                (
                    res.status().as_u16(),
                    res.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };
    let (status, body) = send(
        a.url(),
        reqwest::Method::POST,
        "/v1/projects",
        ADMIN,
        Some(json!({"id": "far"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        a.url(),
        reqwest::Method::POST,
        "/v1/tokens",
        ADMIN,
        Some(json!({"name": "far admin", "role": "admin", "project": "far"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let start = std::time::Instant::now();
    loop {
        let (status, body) = send(
            b.url(),
            reqwest::Method::GET,
            "/v1/environments",
            &token,
            None,
        )
        .await;
        if status == 200 {
            assert_eq!(body["items"].as_array().unwrap().len(), 3, "{body}");
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "replica b never admitted the token: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // The project's writes on b are seen on a.
    let (status, body) = send(
        b.url(),
        reqwest::Method::POST,
        "/v1/prompts/p/versions",
        &token,
        Some(json!({"type": "text", "template": "far away"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        b.url(),
        reqwest::Method::PUT,
        "/v1/environments/production/prompts/p",
        &token,
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let start = std::time::Instant::now();
    loop {
        let (status, body) =
            send(a.url(), reqwest::Method::GET, "/v1/resolve/p", &token, None).await;
        if status == 200 {
            assert_eq!(body["template"], "far away");
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "replica a never served it: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    replicas.stop().await;
}
