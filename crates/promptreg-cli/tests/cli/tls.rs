//! HTTPS end to end: the CLI reaches a server whose certificate a private CA signed through
//! `--ca-cert` / `PROMPTREG_CA_CERT`, and `promptreg serve` refuses to start on an
//! incomplete or unusable `--tls-cert` / `--tls-key`, naming the flag or the file.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use promptreg_server::testing::spawn_sqlite_tls;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::helpers::{path, prompts_dir, Run};

/// A private CA's certificate and a server pair it signed (for 127.0.0.1), as PEM files
/// `ca.pem`, `cert.pem`, `key.pem` in a fresh directory.
fn certificates() -> tempfile::TempDir {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "CLI test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    dir
}

/// Runs `promptreg <args>` with `env` and nothing else of ours set.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_promptreg"));
    command
        .args(args)
        .env_remove("PROMPTREG_CA_CERT")
        .env_remove("PROMPTREG_TLS_CERT")
        .env_remove("PROMPTREG_TLS_KEY")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    // A server that started after all would run forever: the test fails instead.
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("promptreg exits")
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn file(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_cli_trusts_a_private_ca_given_by_flag_or_environment() {
    let certs = certificates();
    let server = spawn_sqlite_tls(
        Path::new(&file(&certs, "cert.pem")),
        Path::new(&file(&certs, "key.pem")),
    )
    .await
    .unwrap();
    let env = [
        ("PROMPTREG_URL", server.url()),
        ("PROMPTREG_TOKEN", server.admin_token()),
    ];
    let ca = file(&certs, "ca.pem");
    let prompts = prompts_dir();
    run(&["push", path(&prompts), "--ca-cert", &ca], &env)
        .await
        .ok();
    let listed = run(
        &["list", "--url", server.url(), "--ca-cert", &ca],
        &env[1..],
    )
    .await
    .ok();
    assert!(listed.contains("greeting"), "{listed}");

    // The same through PROMPTREG_CA_CERT.
    let with_env = [env[0], env[1], ("PROMPTREG_CA_CERT", ca.as_str())];
    let shown = run(&["get", "greeting"], &with_env).await.ok();
    assert!(shown.contains("Hello {{ name }}!"), "{shown}");

    // Without it the server's certificate is not trusted.
    let err = run(&["list"], &env).await.fails(1);
    assert!(err.contains(server.url()), "{err}");
    assert!(
        err.contains("is not trusted (invalid peer certificate: UnknownIssuer)"),
        "{err}"
    );
    assert!(err.contains("--ca-cert"), "{err}");

    // A CA file that does not exist is a usage error naming it.
    let missing = file(&certs, "no-such-ca.pem");
    let err = run(&["list", "--ca-cert", &missing], &env).await.fails(2);
    assert!(err.contains("no-such-ca.pem"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn serve_refuses_to_start_on_an_incomplete_or_unusable_certificate() {
    let certs = certificates();
    let data = certs.path().join("data");
    let data = data.to_str().unwrap();
    let (cert, key) = (file(&certs, "cert.pem"), file(&certs, "key.pem"));
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", data];
        args.extend_from_slice(extra);
        args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>()
    };
    let token = [("PROMPTREG_ADMIN_TOKEN", "tls-test-token")];
    let serve_run = |args: Vec<String>, env: Vec<(&'static str, String)>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut all: Vec<(&str, &str)> = token.to_vec();
        all.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
        run(&args, &all).await
    };

    // One flag without the other, on the command line or in the environment.
    let err = serve_run(serve(&["--tls-cert", &cert]), vec![])
        .await
        .fails(2);
    assert!(err.contains("--tls-key"), "{err}");
    let err = serve_run(serve(&["--tls-key", &key]), vec![])
        .await
        .fails(2);
    assert!(err.contains("--tls-cert"), "{err}");
    let err = serve_run(serve(&[]), vec![("PROMPTREG_TLS_CERT", cert.clone())])
        .await
        .fails(2);
    assert!(err.contains("--tls-key"), "{err}");

    // A file that is missing, not PEM, or a key that is not the certificate's.
    let missing = file(&certs, "missing.pem");
    let err = serve_run(serve(&["--tls-cert", &missing, "--tls-key", &key]), vec![])
        .await
        .fails(1);
    assert!(err.contains("missing.pem"), "{err}");
    let garbage = file(&certs, "garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let err = serve_run(serve(&["--tls-cert", &garbage, "--tls-key", &key]), vec![])
        .await
        .fails(1);
    assert!(
        err.contains("garbage.pem") && err.contains("no certificate"),
        "{err}"
    );
    let err = serve_run(serve(&["--tls-cert", &cert, "--tls-key", &garbage]), vec![])
        .await
        .fails(1);
    assert!(
        err.contains("garbage.pem") && err.contains("no private key"),
        "{err}"
    );
    let other_key = file(&certs, "other-key.pem");
    std::fs::write(&other_key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let err = serve_run(
        serve(&["--tls-cert", &cert, "--tls-key", &other_key]),
        vec![],
    )
    .await
    .fails(1);
    assert!(
        err.contains("other-key.pem") && err.contains("does not belong"),
        "{err}"
    );
}
