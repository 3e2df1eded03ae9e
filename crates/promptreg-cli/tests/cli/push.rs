//! `push`: files to versions, idempotent by digest, with offline digests the server agrees with.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir, write};

both_backends!(
    pushing_the_same_directory_twice_creates_nothing_the_second_time,
    the_message_flag_replaces_the_files_commit_message_with_a_warning
);

async fn pushing_the_same_directory_twice_creates_nothing_the_second_time(server: &TestServer) {
    let dir = prompts_dir();

    let dry = admin(
        server,
        &["push", path(&dir), "--dry-run", "--output", "json"],
    )
    .await
    .json();
    assert_eq!(dry["dry_run"], true);

    let first = admin(server, &["push", path(&dir), "-m", "initial import"])
        .await
        .ok();
    assert!(first.contains("created    greeting"), "{first}");
    assert!(first.contains("support/triage"), "{first}");
    assert!(first.contains("2 created, 0 unchanged"), "{first}");

    let second = admin(server, &["push", path(&dir), "--output", "json"])
        .await
        .json();
    assert_eq!(second["created"], 0);
    assert_eq!(second["unchanged"], 2);
    for (pushed, local) in second["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(dry["prompts"].as_array().unwrap())
    {
        assert_eq!(pushed["status"], "unchanged");
        assert_eq!(pushed["version"], 1);
        // The server's digest is the one computed offline.
        assert_eq!(pushed["digest"], local["digest"]);
    }

    let versions = admin(server, &["versions", "support/triage", "--output", "json"])
        .await
        .json();
    let items = versions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["commit_message"], "initial import");
    assert_eq!(items[0]["model"]["params"]["temperature"], 0.2);
    assert_eq!(items[0]["messages"][1]["type"], "placeholder");

    let listed = admin(server, &["list", "--prefix", "support/"]).await.ok();
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        listed.contains("support/triage") && !listed.contains("greeting"),
        "{listed}"
    );
}

async fn the_message_flag_replaces_the_files_commit_message_with_a_warning(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yaml",
        "template: A {{ x }}\ncommit_message: from the file\n",
    );
    write(dir.path(), "b.yaml", "template: B {{ x }}\n");

    // Without --message the file's own message is used, and nothing is said about it.
    let run = admin(server, &["push", path(&dir)]).await;
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    run.ok();
    let message = |name: &'static str| async move {
        admin(server, &["get", name, "--output", "json"])
            .await
            .json()["commit_message"]
            .clone()
    };
    assert_eq!(message("a").await, "from the file");
    assert_eq!(message("b").await, serde_json::Value::Null);

    // With --message, the flag wins for every file, with a warning naming the file whose
    // message it replaces.
    write(
        dir.path(),
        "a.yaml",
        "template: A2 {{ x }}\ncommit_message: from the file\n",
    );
    write(dir.path(), "b.yaml", "template: B2 {{ x }}\n");
    let run = admin(server, &["push", path(&dir), "-m", "from the flag"]).await;
    let stderr = run.stderr.clone();
    run.ok();
    assert_eq!(message("a").await, "from the flag");
    assert_eq!(message("b").await, "from the flag");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("warning: ")
            && stderr.contains("a.yaml")
            && stderr.contains("\"from the file\""),
        "{stderr}"
    );
}
