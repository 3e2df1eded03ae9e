//! `push`: files to versions, idempotent by digest, with offline digests the server agrees with.

use promptreg_server::testing::TestServer;

use crate::both_backends;
use crate::helpers::{admin, path, prompts_dir};

both_backends!(pushing_the_same_directory_twice_creates_nothing_the_second_time);

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
