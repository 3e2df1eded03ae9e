//! `--output json` on every read command, for scripts.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir, write};

both_backends!(json_output_parses_on_every_read_command);

async fn json_output_parses_on_every_read_command(server: &TestServer) {
    let dir = prompts_dir();
    admin(server, &["push", path(&dir)]).await.ok();
    write(dir.path(), "greeting.yaml", "template: Bye {{ name }}\n");
    admin(server, &["push", path(&dir)]).await.ok();
    admin(server, &["deploy", "greeting", "2", "--env", "staging"])
        .await
        .ok();

    let got = admin(
        server,
        &["get", "greeting", "--version", "1", "--output", "json"],
    )
    .await
    .json();
    assert_eq!(got["version"], 1);
    assert_eq!(got["name"], "greeting");
    let diff = admin(server, &["diff", "greeting", "--output", "json"])
        .await
        .json();
    assert_eq!(
        (diff["from"].as_i64(), diff["to"].as_i64()),
        (Some(1), Some(2))
    );
    assert!(diff["diff"].as_str().unwrap().contains("Bye"), "{diff}");
    let page = admin(server, &["list", "--output", "json"]).await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let page = admin(server, &["list", "--limit", "1", "--output", "json"])
        .await
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string(), "{page}");
    let catalog = admin(server, &["catalog", "--env", "staging", "--output", "json"])
        .await
        .json();
    assert_eq!(catalog["items"][0]["name"], "greeting");
    for args in [
        &["env", "list", "--output", "json"][..],
        &["token", "list", "--output", "json"][..],
        &["versions", "greeting", "--output", "json"][..],
    ] {
        let v = admin(server, args).await.json();
        assert!(v["items"].is_array(), "{args:?}: {v}");
    }
    let text = admin(server, &["diff", "greeting"]).await.ok();
    assert!(text.contains("greeting v1 → v2"), "{text}");
}
