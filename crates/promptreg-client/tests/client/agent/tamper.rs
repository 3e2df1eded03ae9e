//! A version body altered on its way to the agent is refused: the previous good value stays
//! served, the refusal is counted and reported, and the next good change is applied.

use promptreg_client::Agent;

use super::proxy::{Proxy, Tamper};
use super::{deploy, seed, until, Ctx};
use crate::agent_tests;

agent_tests!(a_tampered_version_keeps_the_previous_value);

fn live(agent: &Agent) -> i64 {
    agent.resolve("greeting", None).unwrap().version().get()
}

async fn a_tampered_version_keeps_the_previous_value(ctx: &Ctx) {
    let admin = ctx.admin();
    seed(
        &admin,
        "greeting",
        &["v1 {{ x }}", "v2 {{ x }}", "v3 {{ x }}", "v4 {{ x }}"],
    )
    .await;
    let proxy = Proxy::start(ctx.url()).await;
    let agent = Agent::builder(&proxy.url)
        .token(promptreg_server::testing::TEST_ADMIN_TOKEN)
        .start()
        .await
        .unwrap();
    until("the stream to be live", || agent.status().connected).await;
    assert_eq!(live(&agent), 1);

    // The digest no longer matches the content.
    proxy.set(Tamper::Content);
    deploy(&admin, "greeting", 2).await;
    until("the refusal", || agent.status().refused == 1).await;
    assert_eq!(live(&agent), 1, "the previous good value is kept");
    let error = agent.status().last_error.unwrap();
    assert!(
        error.contains("version 2 of greeting: content hashes to"),
        "{error}"
    );

    // Content and digest both replaced: the signature (and the announced digest) refuse it.
    proxy.set(Tamper::ContentAndDigest);
    deploy(&admin, "greeting", 3).await;
    until("the second refusal", || agent.status().refused == 2).await;
    assert_eq!(live(&agent), 1);
    let error = agent.status().last_error.unwrap();
    assert!(error.contains("version 3 of greeting"), "{error}");

    // Honest again: the next change applies.
    proxy.set(Tamper::Off);
    deploy(&admin, "greeting", 4).await;
    until("the honest change", || live(&agent) == 4).await;
    let prompt = agent.resolve("greeting", None).unwrap();
    assert_eq!(
        prompt.render(&serde_json::json!({"x": "ok"})).unwrap(),
        promptreg_core::render::Rendered::Text("v4 ok".into())
    );
    assert_eq!(agent.status().refused, 2);
    agent.shutdown().await;
}
