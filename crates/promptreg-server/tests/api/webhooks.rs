//! Webhooks through the HTTP API, delivered to a real receiver on port 0: signed events in
//! log order, retries with backoff and their history, event filters, and management rules.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use promptreg_core::webhook::event_name;
use promptreg_core::ProjectId;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    a_receiver_gets_signed_events_in_log_order,
    a_failing_receiver_is_retried_with_backoff_and_order_holds,
    an_event_filter_delivers_only_the_named_events,
    webhook_management_is_admin_only_and_validated,
    two_servers_on_one_database_deliver_each_event_once
);

/// One request the receiver got.
#[derive(Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }
}

/// A webhook receiver on port 0 that answers 500 to its first `fail_first` requests.
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

type ReceiverState = (Arc<Mutex<Vec<Hit>>>, Arc<AtomicUsize>, usize);

async fn receive(
    State((hits, count, fail_first)): State<ReceiverState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    hits.lock().unwrap().push(Hit {
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    if count.fetch_add(1, Ordering::SeqCst) < fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state((hits.clone(), Arc::new(AtomicUsize::new(0)), fail_first));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, hits }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (the dispatcher passes every 250 ms).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + within;
        loop {
            let hits = self.hits();
            if hits.len() >= n || Instant::now() > deadline {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// HMAC-SHA256 written out from RFC 2104, so the test does not trust the server's own code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    hex::encode(
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize(),
    )
}

/// Checks a delivery's signature the way the docs tell receivers to.
fn assert_signed(hit: &Hit, secret: &str) {
    let header = hit.header("promptreg-signature");
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header {header:?}"));
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(&hit.body);
    assert_eq!(v1, hmac_sha256(secret.as_bytes(), &message), "signature");
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "signed {age} s ago");
}

pub async fn create(app: &TestApp, body: Value) -> Value {
    let a = app.post("/v1/webhooks", body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body
}

/// The webhook names of the project's events after `cursor`.
async fn names_after(app: &TestApp, cursor: i64) -> Vec<(i64, &'static str)> {
    app.store
        .events_after(&ProjectId::default(), cursor, 10_000)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| event_name(&e.change).map(|n| (e.seq, n)))
        .collect()
}

/// Waits until a webhook's cursor reaches `seq` (its deliveries up to there are settled).
async fn wait_for_cursor(app: &TestApp, id: &str, seq: i64) {
    for _ in 0..200 {
        if app.get(&format!("/v1/webhooks/{id}")).await.body["cursor"] == seq {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("webhook {id} never got past event {seq}");
}

async fn a_receiver_gets_signed_events_in_log_order(app: &TestApp) {
    let receiver = Receiver::start(0).await;
    app.push("greet", "Hello {{ who }}").await;
    let hook = create(app, json!({"url": receiver.url, "description": "ci"})).await;
    let (id, secret) = (
        hook["id"].as_str().unwrap(),
        hook["secret"].as_str().unwrap(),
    );
    let cursor = hook["cursor"].as_i64().unwrap();
    assert!(hook["events"].as_array().unwrap().is_empty());
    app.push("greet", "Hi {{ who }}").await;
    assert_eq!(
        app.deploy("production", "greet", 1).await.status,
        StatusCode::OK
    );
    let started = app
        .post(
            "/v1/environments/production/prompts/greet/rollouts",
            json!({"candidate": 2, "strategy": {"canary": {"steps": [{"set_weight": 500}, {"pause": {}}]}}}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let rollout = started.body["id"].as_str().unwrap();
    let aborted = app
        .post(
            &format!("/v1/rollouts/{rollout}/abort"),
            json!({"reason": "test"}),
        )
        .await;
    assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.body);

    let expected = names_after(app, cursor).await;
    let names: Vec<_> = expected.iter().map(|(_, n)| *n).collect();
    for wanted in [
        "version_created",
        "pointer_moved",
        "rollout_started",
        "rollout_aborted",
    ] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    let hits = receiver
        .wait_for(expected.len(), Duration::from_secs(15))
        .await;
    let got: Vec<_> = hits
        .iter()
        .map(|h| {
            (
                h.json()["seq"].as_i64().unwrap(),
                h.header("promptreg-event").to_owned(),
            )
        })
        .collect();
    let want: Vec<_> = expected
        .iter()
        .map(|(s, n)| (*s, (*n).to_owned()))
        .collect();
    assert_eq!(
        got, want,
        "exactly the project's changes since creation, in log order"
    );
    for hit in &hits {
        assert_signed(hit, secret);
        let body = hit.json();
        assert_eq!(hit.header("content-type"), "application/json");
        assert_eq!(body["event"], hit.header("promptreg-event"));
        assert_eq!(
            hit.header("promptreg-delivery"),
            format!("{id}:{}", body["seq"])
        );
        assert_eq!(body["project"], "default");
        assert!(
            body["change"].is_object() && body["actor"].is_string(),
            "{body}"
        );
    }
    let first = hits[0].json();
    assert_eq!(first["change"]["name"], "greet");
    assert_eq!(first["change"]["version"], 2);

    // The history says the same, newest first, once the last delivery is recorded (just
    // after the receiver answered).
    wait_for_cursor(app, id, expected.last().unwrap().0).await;
    let deliveries = app
        .get(&format!("/v1/webhooks/{id}/deliveries?limit=2"))
        .await;
    assert_eq!(deliveries.status, StatusCode::OK, "{}", deliveries.body);
    let items = deliveries.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["seq"], expected.last().unwrap().0);
    assert_eq!(items[0]["event"], "rollout_aborted");
    assert_eq!(items[0]["status"], "delivered");
    assert_eq!(items[0]["attempts"], 1);
    assert_eq!(items[0]["response_code"], 204);
    assert!(items[0]["seq"].as_i64() > items[1]["seq"].as_i64());
    let next = deliveries.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/webhooks/{id}/deliveries?cursor={next}"))
        .await;
    assert_eq!(
        rest.body["items"].as_array().unwrap().len(),
        expected.len() - 2
    );
}

async fn a_failing_receiver_is_retried_with_backoff_and_order_holds(app: &TestApp) {
    let receiver = Receiver::start(2).await;
    let hook = create(
        app,
        json!({"url": receiver.url, "events": ["version_created"]}),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    app.push("retry", "one").await;
    app.push("retry", "two").await;
    let first = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1);
    // While the first event waits for its retry (1 s), its history says so.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.hits().len(),
        1,
        "no retry before the first backoff"
    );
    let d = app.get(&format!("/v1/webhooks/{id}/deliveries")).await.body;
    assert_eq!(d["items"][0]["status"], "pending", "{d}");
    assert_eq!(d["items"][0]["attempts"], 1);
    assert_eq!(d["items"][0]["response_code"], 500);
    assert!(d["items"][0]["error"].as_str().unwrap().contains("500"));
    assert!(d["items"][0]["next_attempt_at"].is_string());

    let hits = receiver.wait_for(4, Duration::from_secs(15)).await;
    let seqs: Vec<i64> = hits
        .iter()
        .map(|h| h.json()["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 4, "{seqs:?}");
    assert_eq!(
        &seqs[..3],
        &[seqs[0]; 3],
        "the first event three times, then the next"
    );
    assert!(seqs[3] > seqs[0]);
    let gaps = [hits[1].at - hits[0].at, hits[2].at - hits[1].at];
    assert!(gaps[0] >= Duration::from_millis(900), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(1900), "{gaps:?}");
    assert_eq!(
        hits[0].header("promptreg-delivery"),
        hits[2].header("promptreg-delivery")
    );

    // Poll until the last one is recorded.
    let mut items = Vec::new();
    for _ in 0..40 {
        let d = app.get(&format!("/v1/webhooks/{id}/deliveries")).await.body;
        items = d["items"].as_array().unwrap().clone();
        if items.len() == 2 && items[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(items.len(), 2);
    assert_eq!(
        (
            &items[1]["status"],
            &items[1]["attempts"],
            &items[1]["response_code"]
        ),
        (&json!("delivered"), &json!(3), &json!(204))
    );
    assert_eq!(items[1]["error"], Value::Null);
    assert_eq!(items[0]["attempts"], 1);
    assert!(items[1]["first_attempt_at"].as_str() < items[1]["last_attempt_at"].as_str());
}

async fn an_event_filter_delivers_only_the_named_events(app: &TestApp) {
    let receiver = Receiver::start(0).await;
    let hook = create(
        app,
        json!({"url": receiver.url, "events": ["pointer_moved"]}),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    assert_eq!(hook["events"], json!(["pointer_moved"]));
    app.push("f", "one").await;
    app.deploy("staging", "f", 1).await;
    app.push("f", "two").await;
    let head = names_after(app, 0).await.last().unwrap().0;
    // The cursor passes the unwanted events too, so it reaching the head means all were seen.
    wait_for_cursor(app, id, head).await;
    let hits = receiver.hits();
    let names: Vec<_> = hits
        .iter()
        .map(|h| h.header("promptreg-event").to_owned())
        .collect();
    assert_eq!(names, ["pointer_moved"]);
    assert_eq!(hits[0].json()["change"]["env"], "staging");
}

async fn webhook_management_is_admin_only_and_validated(app: &TestApp) {
    for role in ["reader", "author", "deployer"] {
        let token = app.token(role).await;
        let body = Some(json!({"url": "https://example.com/hook"}));
        let a = app.call(Method::POST, "/v1/webhooks", &token, body).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{role}: {}", a.body);
        let a = app.call(Method::GET, "/v1/webhooks", &token, None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{role}: {}", a.body);
    }
    for url in [
        "ftp://example.com/x",
        "not a url",
        "/relative/path",
        "http://",
        "mailto:a@b.c",
    ] {
        let a = app.post("/v1/webhooks", json!({"url": url})).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            a.body
        );
        assert!(a.message().starts_with("url:"), "{}", a.message());
    }
    let a = app
        .post(
            "/v1/webhooks",
            json!({"url": "https://example.com/h", "events": ["pointer_moved", "rollout_changed"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.message().starts_with("events:") && a.message().contains("rollout_changed"));
    let a = app
        .post(
            "/v1/webhooks",
            json!({"url": "https://example.com/h", "secret": "x"}),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown field: {}",
        a.body
    );
    let before = app.events().await;

    let hook = create(app, json!({"url": "https://example.com/h"})).await;
    let (id, secret) = (
        hook["id"].as_str().unwrap(),
        hook["secret"].as_str().unwrap(),
    );
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let listed = app.get("/v1/webhooks").await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let one = app.get(&format!("/v1/webhooks/{id}")).await.body;
    assert_eq!(one["url"], "https://example.com/h");
    assert!(!one.to_string().contains(secret) && !listed.to_string().contains(secret));
    assert_eq!(
        app.get("/v1/webhooks/wh_nope").await.status,
        StatusCode::NOT_FOUND
    );
    let path = format!("/v1/webhooks/{id}");
    assert_eq!(
        app.call(Method::DELETE, &path, crate::helpers::ADMIN, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::DELETE, &path, crate::helpers::ADMIN, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Creating and deleting were recorded, without the secret.
    let events = app
        .store
        .events_after(&ProjectId::default(), before as i64, 100)
        .await
        .unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.change.kind()).collect();
    assert_eq!(kinds, ["webhook_created", "webhook_deleted"]);
    for e in &events {
        assert!(!String::from_utf8(e.canonical_bytes())
            .unwrap()
            .contains(secret));
    }
}

/// Two servers on one database (a second state over the same store, with its own dispatcher):
/// the lease makes one of them deliver each event, once.
async fn two_servers_on_one_database_deliver_each_event_once(app: &TestApp) {
    let other = promptreg_server::state_for_store(app.store.clone(), crate::helpers::ADMIN)
        .await
        .unwrap();
    let receiver = Receiver::start(0).await;
    let hook = create(app, json!({"url": receiver.url})).await;
    let cursor = hook["cursor"].as_i64().unwrap();
    for i in 0..5 {
        app.push("twice", &format!("v{i}")).await;
    }
    let expected = names_after(app, cursor).await;
    assert_eq!(expected.len(), 5);
    receiver.wait_for(5, Duration::from_secs(10)).await;
    // Both dispatchers pass every 250 ms: give a duplicate time to arrive.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let ids: Vec<_> = receiver
        .hits()
        .iter()
        .map(|h| h.header("promptreg-delivery").to_owned())
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    other.supervisor.shutdown().await;
}
