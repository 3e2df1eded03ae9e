//! `validate`, `gates show|set` and `list --validated`: a CI pipeline's results gating a
//! promotion, end to end through the binary.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir, write};

both_backends!(validate_gate_and_promote);

async fn validate_gate_and_promote(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();

    let out = admin(
        server,
        &[
            "gates",
            "set",
            "production",
            "--predecessor",
            "staging",
            "--gate",
            "evals=has(validations.evals) && validations.evals.passed",
            "--gate",
            "accuracy=validations.evals.metrics.accuracy >= 0.9",
        ],
    )
    .await
    .ok();
    assert!(out.contains("staging") && out.contains("accuracy"), "{out}");
    let shown = admin(server, &["gates", "show", "production", "-o", "json"])
        .await
        .json();
    assert_eq!(shown["required_predecessor"], "staging");
    assert_eq!(shown["gates"][1]["name"], "accuracy");
    // A gate that does not compile is refused and changes nothing.
    let err = admin(
        server,
        &[
            "gates",
            "set",
            "production",
            "--gate",
            "bad=validations.x &&",
        ],
    )
    .await
    .fails(1);
    assert!(err.contains("does not compile"), "{err}");
    let err = admin(
        server,
        &["gates", "set", "production", "--gate", "no-equals-sign"],
    )
    .await
    .fails(2);
    assert!(err.contains("name=<CEL expression>"), "{err}");

    admin(server, &["deploy", "greeting", "1", "--env", "staging"])
        .await
        .ok();
    let err = admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .fails(1);
    assert!(
        err.contains("gate 'evals'") && err.contains("gate_failed"),
        "{err}"
    );

    let out = admin(
        server,
        &[
            "validate",
            "greeting",
            "1",
            "--suite",
            "evals",
            "--passed",
            "--metric",
            "accuracy=0.8",
            "--tool",
            "promptfoo@0.90.1",
            "--details",
            "120 cases",
        ],
    )
    .await
    .ok();
    assert!(
        out.contains("passed") && out.contains("accuracy=0.8"),
        "{out}"
    );
    let err = admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .fails(1);
    assert!(err.contains("gate 'accuracy'"), "{err}");

    // From a file, as a pipeline writes it.
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "result.json",
        r#"{"suite": "evals", "passed": true, "metrics": {"accuracy": 0.95},
            "details": {"cases": 120}, "tool": {"name": "promptfoo", "version": "0.90.1"}}"#,
    );
    let file = tmp.path().join("result.json");
    let stored = admin(
        server,
        &[
            "validate",
            "greeting",
            "1",
            "--from-file",
            file.to_str().unwrap(),
            "-o",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(stored["metrics"]["accuracy"], 0.95);
    assert_eq!(stored["tool"]["name"], "promptfoo");

    let listed = admin(
        server,
        &["list", "--validated", "evals", "--env", "production"],
    )
    .await
    .ok();
    assert!(
        listed.contains("greeting") && listed.contains("production=-"),
        "{listed}"
    );
    admin(server, &["deploy", "greeting", "1", "--env", "production"])
        .await
        .ok();
    let listed = admin(
        server,
        &["list", "--validated", "evals", "--env", "production"],
    )
    .await
    .ok();
    assert!(listed.contains("no validated prompts"), "{listed}");

    let err = admin(server, &["validate", "greeting", "1", "--suite", "evals"])
        .await
        .fails(2);
    assert!(err.contains("--passed or --failed"), "{err}");
    let err = admin(
        server,
        &["validate", "greeting", "9", "--suite", "evals", "--failed"],
    )
    .await
    .fails(1);
    assert!(err.contains("no version 9"), "{err}");
}
