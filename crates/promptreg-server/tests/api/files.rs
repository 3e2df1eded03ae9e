//! What the server keeps on disk is private to its user (issue 11, defect 7): the data
//! directory 0700, the database and its WAL and SHM files 0600, whatever the umask.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::http::StatusCode;
use promptreg_server::Config;
use tower::ServiceExt;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

async fn push_one(config: &Config, template: &str) {
    let state = promptreg_server::build_state(config).await.unwrap();
    let router = promptreg_server::router(state, 64 * 1024);
    let request = axum::http::Request::post("/v1/prompts/p/versions")
        .header("authorization", "Bearer t")
        .body(axum::body::Body::from(
            serde_json::json!({"type": "text", "template": template}).to_string(),
        ))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_fresh_data_directory_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut config = Config::for_data_dir(data.clone());
    config.admin_token = Some("t".into());
    push_one(&config, "one").await;
    assert_eq!(mode(&data), 0o700);
    for file in ["promptreg.db", "promptreg.db-wal", "promptreg.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

#[tokio::test]
async fn files_left_readable_are_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut config = Config::for_data_dir(data.clone());
    config.admin_token = Some("t".into());
    push_one(&config, "one").await;
    // As an earlier version left them.
    for file in ["promptreg.db", "promptreg.db-wal", "promptreg.db-shm"] {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    push_one(&config, "two").await;
    for file in ["promptreg.db", "promptreg.db-wal", "promptreg.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}
