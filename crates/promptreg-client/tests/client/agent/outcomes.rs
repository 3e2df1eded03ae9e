//! The outcome reporter (batches reach the server; drops are counted, never blocking) and the
//! telemetry span's attributes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use super::{seed, until, Ctx};
use crate::agent_tests;

agent_tests!(
    the_reporter_delivers_batches_the_server_counts,
    with_the_server_gone_reports_are_dropped_and_counted_without_blocking,
    the_prompt_span_carries_the_prompt_attributes,
);

async fn the_reporter_delivers_batches_the_server_counts(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(&admin, "greeting", &["Hello {{ x }}"]).await;
    let agent = ctx
        .agent()
        .outcomes(10, Duration::from_millis(50), 1000)
        .start()
        .await
        .unwrap();
    for i in 0..25 {
        let subject = format!("s{i}");
        let prompt = agent.resolve("greeting", Some(&subject)).unwrap();
        let mut outcome = prompt.outcome(Some(&subject));
        outcome.success = Some(i % 5 != 0);
        outcome.latency_ms = Some(12.5);
        assert!(agent.report(outcome));
    }
    until("the server to accept all 25", || {
        agent.status().outcomes.accepted == 25
    })
    .await;
    let counts = agent.status().outcomes;
    assert_eq!((counts.queued, counts.rejected, counts.dropped), (25, 0, 0));
    assert!(counts.batches >= 3, "batches of at most 10: {counts:?}");

    // The server's figures for the version.
    let url = format!(
        "{}/v1/prompts/greeting/versions/1/outcomes?env=production",
        ctx.url()
    );
    let mut figures = serde_json::Value::Null;
    for _ in 0..100 {
        figures = reqwest::Client::new()
            .get(&url)
            .bearer_auth(promptreg_server::testing::TEST_ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if figures["samples"] == 25 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(figures["samples"], 25, "{figures}");
    assert_eq!(figures["successes"], 20, "{figures}");
    agent.shutdown().await;
}

async fn with_the_server_gone_reports_are_dropped_and_counted_without_blocking(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(&admin, "greeting", &["Hello {{ x }}"]).await;
    let agent = ctx
        .agent()
        .outcomes(10, Duration::from_millis(20), 50)
        .shutdown_timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let prompt = agent.resolve("greeting", None).unwrap();
    ctx.stop_server().await;
    let mut slowest = Duration::ZERO;
    let mut taken = 0u64;
    for _ in 0..5000 {
        let start = Instant::now();
        taken += u64::from(agent.report(prompt.outcome(None)));
        slowest = slowest.max(start.elapsed());
    }
    // Never waits on the network: each call is a queue push (generous bound for a busy CI).
    assert!(
        slowest < Duration::from_millis(20),
        "slowest report {slowest:?}"
    );
    let counts = agent.status().outcomes;
    assert_eq!(counts.queued, taken);
    assert_eq!(counts.queued + counts.dropped, 5000, "{counts:?}");
    assert!(
        counts.dropped >= 4000,
        "a queue of 50 cannot take 5000: {counts:?}"
    );
    let started = Instant::now();
    let status = agent.status();
    agent.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status.outcomes.accepted, 0);
}

/// Records the fields of every new span named `prompt`.
#[derive(Default, Clone)]
struct Spans(std::sync::Arc<Mutex<Vec<HashMap<String, String>>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::Id,
        _: Context<'_, S>,
    ) {
        if attrs.metadata().name() == "prompt" {
            let mut fields = HashMap::new();
            attrs.record(&mut Fields(&mut fields));
            self.0.lock().push(fields);
        }
    }
}

async fn the_prompt_span_carries_the_prompt_attributes(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(&admin, "greeting", &["Hello {{ x }}", "Hi {{ x }}"]).await;
    let start = promptreg_api::StartRollout {
        candidate: promptreg_core::Version::new(2).unwrap(),
        reason: None,
        strategy: serde_json::json!({"canary": {"steps": [{"set_weight": 10000}, {"pause": {}}]}}),
        analysis: None,
        change_request: None,
    };
    let rollout = admin
        .start_rollout(&super::production(), &super::name("greeting"), &start)
        .await
        .unwrap();
    let agent = ctx.agent().start().await.unwrap();
    until("the candidate at full weight", || {
        agent
            .resolve("greeting", Some("s1"))
            .unwrap()
            .version()
            .get()
            == 2
    })
    .await;
    let prompt = agent.resolve("greeting", Some("s1")).unwrap();
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    tracing::subscriber::with_default(subscriber, || {
        let _entered = prompt.span().entered();
    });
    let recorded = spans.0.lock().clone();
    assert_eq!(recorded.len(), 1);
    let span = &recorded[0];
    assert_eq!(span["prompt.name"], "greeting");
    assert_eq!(span["prompt.version"], "2");
    assert_eq!(span["prompt.digest"], prompt.digest());
    assert_eq!(span["prompt.rollout"], rollout.id);
    assert_eq!(span["prompt.arm"], "candidate");
    agent.shutdown().await;
}
