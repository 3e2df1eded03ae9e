//! `hello` — the trivial "machine ceiling" server for promptreg's benchmarks.
//!
//! An axum server on a default multi-threaded tokio runtime (the same stack as the
//! promptreg server) that answers `GET /` with a fixed ~1 KiB JSON body
//! (`application/json`) built once at start-up, and `GET /readyz` with `ok`. Whatever
//! throughput and latency `loadgen` measures against it on a machine is the most any
//! HTTP/1.1 service on that stack can reach there, so promptreg's resolve figures are
//! reported as a ratio of it.
//!
//! ```text
//! hello --listen 127.0.0.1:8799
//! ```

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::Router;
use bytes::Bytes;
use clap::Parser;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "hello",
    version,
    about = "Trivial ceiling server: GET / returns ~1 KiB of JSON"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8799")]
    listen: SocketAddr,
}

/// Builds the fixed response body: a JSON object shaped like a resolved prompt, ~1 KiB.
fn body() -> anyhow::Result<Bytes> {
    // Pad the template so the whole serialized object lands close to 1024 bytes.
    let mut template = String::from("You are a helpful support agent for ACME. ");
    while template.len() < 790 {
        template.push_str("Answer politely and concisely. ");
    }
    template.push_str("Customer: {{ name }}");
    let value = serde_json::json!({
        "name": "bench/support",
        "environment": "production",
        "version": 1,
        "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "content": { "type": "text", "template": template },
    });
    Ok(Bytes::from(
        serde_json::to_vec(&value).context("serializing body")?,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body = body()?;
    let len = body.len();
    let app = Router::new()
        .route(
            "/",
            get(move || {
                let body = body.clone();
                async move { ([(CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .route("/readyz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?
        .tap_io(|tcp| {
            // Best effort: a failure only costs latency.
            let _ = tcp.set_nodelay(true);
        });
    eprintln!("hello: listening on {} (body {len} bytes)", args.listen);
    axum::serve(listener, app).await.context("serving")?;
    Ok(())
}
