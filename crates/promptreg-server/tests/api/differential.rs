//! Differential test: random sequences of publishes, deploys, rollbacks and bad input run
//! against the HTTP API and against the pure model in `promptreg_core::model`; every answer
//! and the final state must agree. Each case is a fixed seed, printed on failure, so a failing
//! sequence can be replayed with `DIFF_SEED=<seed>`.

use axum::http::{Method, StatusCode};
use promptreg_api::CreateVersion;
use promptreg_core::model::{Model, Move, Outcome};
use promptreg_core::{DeployKind, Version};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{enc, Answer, TestApp, ADMIN};

both_backends!(http_answers_match_the_pure_model);

/// Cases per backend and operations per case.
const SEEDS: u64 = 20;
const OPS: usize = 60;

const TEMPLATES: [&str; 3] = ["hello {{ name }}", "bye", "third {{ x }}"];
const KNOWN_CODES: [&str; 5] = [
    "not_found",
    "invalid_request",
    "type_change",
    "nothing_to_roll_back",
    "not_an_earlier_version",
];
const ENVS: [&str; 4] = ["development", "staging", "production", "nope"];

/// xorshift64*: small, deterministic, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One operation, as the test sends it.
#[derive(Debug)]
enum Op {
    Publish {
        name: String,
        body: Value,
    },
    Deploy {
        env: String,
        name: String,
        version: i64,
    },
    Rollback {
        env: String,
        name: String,
        to: Option<i64>,
    },
}

async fn http_answers_match_the_pure_model(app: &TestApp) {
    let seeds: Vec<u64> = match std::env::var("DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("DIFF_SEED is a number")],
        Err(_) => (1..=SEEDS).collect(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for seed in &seeds {
        seen.extend(run_case(app, *seed).await);
    }
    // The sequences must reach every kind of answer, or agreeing would prove little.
    if seeds.len() > 1 {
        let all = [
            "created",
            "unchanged",
            "deploy",
            "redeploy",
            "rollback",
            "not_found",
            "invalid_request",
            "type_change",
            "nothing_to_roll_back",
            "not_an_earlier_version",
        ];
        let missing: Vec<_> = all.iter().filter(|k| !seen.contains(*k)).collect();
        assert!(missing.is_empty(), "never reached: {missing:?}");
    }
}

/// A name for the kind of an outcome, to check the sequences reach them all.
fn kind_of(o: &Outcome) -> &'static str {
    match o {
        Outcome::Published { created: true, .. } => "created",
        Outcome::Published { .. } => "unchanged",
        Outcome::Moved { changed: false, .. } => "redeploy",
        Outcome::Moved { record, .. } => record.kind.as_str(),
        Outcome::Refused(code) => code,
    }
}

/// Runs one seeded sequence and returns the kinds of answers it saw; prompt names carry the
/// seed so cases share one server.
async fn run_case(app: &TestApp, seed: u64) -> Vec<&'static str> {
    let mut rng = Rng::new(seed);
    let mut model = Model::new();
    let names = [format!("s{seed}/a"), format!("s{seed}/b")];
    let mut last_template: [Option<&str>; 2] = [None, None];
    let mut log = Vec::new();
    let mut seen = Vec::new();
    for step in 0..OPS {
        let which = rng.below(2) as usize;
        let name = names[which].clone();
        let latest = promptreg_core::PromptName::parse(&name)
            .ok()
            .and_then(|n| model.latest(&n))
            .map_or(0, Version::get);
        let op = match rng.below(100) {
            0..=29 => {
                let template = match last_template[which] {
                    Some(t) if rng.below(4) == 0 => t,
                    _ => rng.pick(&TEMPLATES),
                };
                last_template[which] = Some(template);
                Op::Publish {
                    name,
                    body: json!({"type": "text", "template": template}),
                }
            }
            30..=34 => Op::Publish {
                name,
                body: json!({"type": "chat", "messages": [{"role": "user", "content": "hi"}]}),
            },
            35..=64 => Op::Deploy {
                env: env(&mut rng),
                name,
                version: 1 + rng.below(latest as u64 + 1) as i64,
            },
            65..=94 => Op::Rollback {
                env: env(&mut rng),
                name,
                to: (rng.below(2) == 0).then(|| 1 + rng.below(latest as u64 + 1) as i64),
            },
            _ => {
                let bad = "Bad_Name".to_owned();
                match rng.below(3) {
                    0 => Op::Publish {
                        name: bad,
                        body: json!({"type": "text", "template": "x"}),
                    },
                    1 => Op::Deploy {
                        env: "production".into(),
                        name: bad,
                        version: 1,
                    },
                    _ => Op::Rollback {
                        env: "production".into(),
                        name: bad,
                        to: None,
                    },
                }
            }
        };
        let expected = apply_model(&mut model, &op);
        let answer = send(app, &op).await;
        let got = outcome(&answer);
        seen.push(kind_of(&expected));
        log.push(format!("{step}: {op:?} -> {expected:?}"));
        assert_eq!(
            got,
            expected,
            "seed {seed} step {step}: {op:?}\nHTTP {} {}\nsteps so far:\n{}",
            answer.status,
            answer.body,
            log.join("\n")
        );
        assert_eq!(
            answer.status,
            status_of(&expected),
            "seed {seed} step {step}: {op:?}: {}",
            answer.body
        );
    }
    compare_state(app, &model, seed, &log).await;
    seen
}

fn env(rng: &mut Rng) -> String {
    // `nope` does not exist: about one pick in ten.
    if rng.below(10) == 0 {
        ENVS[3].into()
    } else {
        rng.pick(&ENVS[..3]).into()
    }
}

fn apply_model(model: &mut Model, op: &Op) -> Outcome {
    match op {
        Op::Publish { name, body } => {
            let body: CreateVersion = serde_json::from_value(body.clone()).unwrap();
            model.publish(name, &body.content().unwrap())
        }
        Op::Deploy { env, name, version } => model.deploy(env, name, *version),
        Op::Rollback { env, name, to } => model.rollback(env, name, *to),
    }
}

async fn send(app: &TestApp, op: &Op) -> Answer {
    match op {
        Op::Publish { name, body } => {
            app.post(&format!("/v1/prompts/{}/versions", enc(name)), body.clone())
                .await
        }
        Op::Deploy { env, name, version } => app.deploy(env, name, *version).await,
        Op::Rollback { env, name, to } => {
            let body = to.map(|v| json!({"to_version": v}));
            app.call(
                Method::POST,
                &format!("/v1/environments/{env}/prompts/{}/rollback", enc(name)),
                ADMIN,
                body,
            )
            .await
        }
    }
}

/// Reads the compared fields of an answer into the model's terms.
fn outcome(a: &Answer) -> Outcome {
    if !a.status.is_success() {
        // The model speaks in known codes; any other code is a difference in itself (the
        // assertion prints the body).
        let code = a.code();
        return Outcome::Refused(
            KNOWN_CODES
                .iter()
                .find(|k| **k == code)
                .copied()
                .unwrap_or("<unexpected code>"),
        );
    }
    let version = |field: &str| {
        a.body[field]
            .as_i64()
            .map(|n| Version::new(n).unwrap_or_else(|e| panic!("{field}: {e}: {}", a.body)))
    };
    if let Some(created) = a.body["created"].as_bool() {
        return Outcome::Published {
            version: version("version").unwrap_or_else(|| panic!("no version: {}", a.body)),
            created,
        };
    }
    let kind = a.body["kind"]
        .as_str()
        .and_then(DeployKind::parse)
        .unwrap_or_else(|| panic!("no kind: {}", a.body));
    Outcome::Moved {
        record: Move {
            kind,
            from: version("from_version"),
            to: version("to_version").unwrap_or_else(|| panic!("no to_version: {}", a.body)),
        },
        changed: a.body["changed"]
            .as_bool()
            .unwrap_or_else(|| panic!("no changed: {}", a.body)),
    }
}

/// The status an outcome must come with.
fn status_of(o: &Outcome) -> StatusCode {
    match o {
        Outcome::Published { created: true, .. } => StatusCode::CREATED,
        Outcome::Published { .. } | Outcome::Moved { .. } => StatusCode::OK,
        Outcome::Refused("not_found") => StatusCode::NOT_FOUND,
        // Only names in the path are invalid here: a bad request line, 400.
        Outcome::Refused("invalid_request") => StatusCode::BAD_REQUEST,
        Outcome::Refused(_) => StatusCode::CONFLICT,
    }
}

/// Per prompt the latest version; per (env, prompt) the live version and history length.
async fn compare_state(app: &TestApp, model: &Model, seed: u64, log: &[String]) {
    let ctx = || format!("seed {seed}, final state\nsteps:\n{}", log.join("\n"));
    for name in model.prompts() {
        let n = enc(name.as_ref());
        let list = app.get(&format!("/v1/prompts/{n}/versions?limit=1")).await;
        assert_eq!(
            list.body["items"][0]["version"].as_i64(),
            model.latest(name).map(Version::get),
            "latest of {name}: {}\n{}",
            list.body,
            ctx()
        );
        for env in model.envs() {
            let live = app.get(&format!("/v1/resolve/{n}?env={env}")).await;
            let got = if live.status == StatusCode::OK {
                live.body["version"].as_i64()
            } else {
                assert_eq!(
                    (live.status, live.code()),
                    (StatusCode::NOT_FOUND, "not_deployed"),
                    "{}",
                    ctx()
                );
                None
            };
            assert_eq!(
                got,
                model.live(env, name).map(Version::get),
                "live {name} in {env}: {}\n{}",
                live.body,
                ctx()
            );
            let history = app
                .get(&format!(
                    "/v1/environments/{env}/prompts/{n}/history?limit=100"
                ))
                .await;
            assert_eq!(history.status, StatusCode::OK, "{}", history.body);
            assert_eq!(history.body["next_cursor"], Value::Null, "{}", ctx());
            assert_eq!(
                history.body["items"].as_array().map_or(0, Vec::len),
                model.history_len(env, name),
                "history of {name} in {env}: {}\n{}",
                history.body,
                ctx()
            );
        }
    }
}
