//! Several servers on one PostgreSQL database: a deploy or rollback on one is served by the
//! others within milliseconds (through LISTEN/NOTIFY), and so are token changes.

use std::time::{Duration, Instant};

use promptreg_server::testing::Replicas;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::ADMIN;

async fn send(
    client: &reqwest::Client,
    method: Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Polls until `check` holds and returns how long it took; bounded, so a broken feed fails.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "the other replica did not catch up within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_serve_each_others_deploys_rollbacks_and_tokens() {
    let Some(replicas) =
        Replicas::start("replicas_serve_each_others_deploys_rollbacks_and_tokens").await
    else {
        return;
    };
    let (a, b) = (&replicas.a, &replicas.b);
    let client = reqwest::Client::new();
    let c = &client;
    let version_on = |server: String| async move {
        send(
            c,
            Method::GET,
            format!("{server}/v1/resolve/p"),
            ADMIN,
            None,
        )
        .await
        .1["version"]
            .as_i64()
    };

    for t in ["v1", "v2"] {
        let (s, _) = send(
            c,
            Method::POST,
            format!("{}/v1/prompts/p/versions", a.url()),
            ADMIN,
            Some(json!({"type": "text", "template": t})),
        )
        .await;
        assert_eq!(s, 201);
    }
    send(
        c,
        Method::POST,
        format!("{}/v1/environments", a.url()),
        ADMIN,
        Some(json!({"name": "production"})),
    )
    .await;
    for v in [1, 2] {
        let (s, _) = send(
            c,
            Method::PUT,
            format!("{}/v1/environments/production/prompts/p", a.url()),
            ADMIN,
            Some(json!({"version": v})),
        )
        .await;
        assert_eq!(s, 200);
        let took = within(Duration::from_secs(5), || {
            version_on(b.url().to_owned()).then_eq(v)
        })
        .await;
        eprintln!("deploy of version {v} on A served by B after {took:?}");
    }

    // Roll back on B: A serves the rolled-back version too.
    let (s, body) = send(
        c,
        Method::POST,
        format!("{}/v1/environments/production/prompts/p/rollback", b.url()),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["to_version"], 1);
    let took = within(Duration::from_secs(5), || {
        version_on(a.url().to_owned()).then_eq(1)
    })
    .await;
    eprintln!("rollback on B served by A after {took:?}");

    // A token created on A works on B; revoked on A, it stops working on B.
    let (_, token) = send(
        c,
        Method::POST,
        format!("{}/v1/tokens", a.url()),
        ADMIN,
        Some(json!({"name": "agent", "role": "reader"})),
    )
    .await;
    let secret = token["token"].as_str().unwrap().to_owned();
    let status_on_b = || async {
        send(
            c,
            Method::GET,
            format!("{}/v1/resolve/p", b.url()),
            &secret,
            None,
        )
        .await
        .0
    };
    within(Duration::from_secs(5), || async {
        status_on_b().await == 200
    })
    .await;
    let id = token["id"].as_str().unwrap();
    send(
        c,
        Method::DELETE,
        format!("{}/v1/tokens/{id}", a.url()),
        ADMIN,
        None,
    )
    .await;
    within(Duration::from_secs(5), || async {
        status_on_b().await == 401
    })
    .await;

    replicas.stop().await;
}

/// Each replica plans a publish from the newest version it last saw. Publishes alternate
/// between the replicas faster than the change feed carries them, so that a replica's
/// plan is often stale: it must still number densely, never fork, and answer content equal
/// to the other replica's newest version as unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_alternating_between_replicas_number_densely() {
    let Some(replicas) = Replicas::start("publishes_alternating_between_replicas").await else {
        return;
    };
    let client = reqwest::Client::new();
    let publish = |server: String, template: String| {
        let c = &client;
        async move {
            send(
                c,
                Method::POST,
                format!("{server}/v1/prompts/alt/versions"),
                ADMIN,
                Some(json!({"type": "text", "template": template})),
            )
            .await
        }
    };
    let (a, b) = (replicas.a.url(), replicas.b.url());
    let mut newest = 0;
    for round in 0..20 {
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (s, v) = publish(first.to_string(), format!("round {round}")).await;
        assert_eq!((s, v["version"].as_i64()), (201, Some(newest + 1)), "{v}");
        newest += 1;
        // The same content on the other replica at once: unchanged, the same version.
        let (s, v) = publish(second.to_string(), format!("round {round}")).await;
        assert_eq!((s, v["version"].as_i64()), (200, Some(newest)), "{v}");
        assert_eq!(v["created"], false);
        // New content there: the next number.
        let (s, v) = publish(second.to_string(), format!("round {round} again")).await;
        assert_eq!((s, v["version"].as_i64()), (201, Some(newest + 1)), "{v}");
        newest += 1;
    }
    let (s, list) = send(
        &client,
        Method::GET,
        format!("{a}/v1/prompts/alt/versions?limit=100"),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    let mut numbers: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=newest).collect::<Vec<_>>());
    replicas.stop().await;
}

/// `future.then_eq(v)`: resolves to whether the future's value is `Some(v)`.
trait ThenEq {
    fn then_eq(self, v: i64) -> impl std::future::Future<Output = bool>;
}

impl<F: std::future::Future<Output = Option<i64>>> ThenEq for F {
    async fn then_eq(self, v: i64) -> bool {
        self.await == Some(v)
    }
}
