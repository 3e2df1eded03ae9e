//! Reading a change stream in tests: open `GET /v1/watch` on an in-process router and read
//! its Server-Sent Events frame by frame (comments included), with a deadline on each read.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::{Answer, ADMIN};

/// One SSE frame: an event (`id`, `event`, `data`) or a comment (`event` is `:`, `data` its
/// text).
#[derive(Debug, Clone)]
pub struct Frame {
    pub id: Option<i64>,
    pub event: String,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }

    pub fn is_change(&self) -> bool {
        matches!(
            self.event.as_str(),
            "version_created" | "pointer_moved" | "rollout_changed"
        )
    }
}

/// An open stream.
pub struct Sse {
    body: Body,
    buf: String,
}

/// Opens `GET <path>` as `token` with extra headers: the stream, or the error answer.
pub async fn open_as(
    router: &Router,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Sse, Answer> {
    let mut req = Request::builder().method(Method::GET).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    if status != StatusCode::OK {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        return Err(Answer {
            status,
            headers,
            body,
        });
    }
    assert_eq!(
        headers["content-type"], "text/event-stream",
        "a stream is text/event-stream"
    );
    Ok(Sse {
        body: response.into_body(),
        buf: String::new(),
    })
}

/// Opens a stream as the admin; panics on an error answer.
pub async fn open(router: &Router, path: &str, headers: &[(&str, &str)]) -> Sse {
    match open_as(router, path, Some(ADMIN), headers).await {
        Ok(s) => s,
        Err(a) => panic!("{path}: {} {}", a.status, a.body),
    }
}

impl Sse {
    /// The next frame, `None` when the server ended the stream; panics after `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let read = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("no frame within {within:?}; have {:?}", self.buf));
            match read {
                None => {
                    assert!(
                        self.buf.is_empty(),
                        "stream ended mid-frame: {:?}",
                        self.buf
                    );
                    return None;
                }
                Some(frame) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.buf.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
            }
        }
    }

    /// The next frame that is not a heartbeat comment.
    pub async fn event(&mut self, within: Duration) -> Option<Frame> {
        loop {
            let frame = self.next(within).await?;
            if frame.event != ":" {
                return Some(frame);
            }
        }
    }

    /// Events up to and including `ready`; returns the changes before it and `ready`'s seq.
    pub async fn until_ready(&mut self) -> (Vec<Frame>, i64) {
        let mut changes = Vec::new();
        loop {
            let f = self
                .event(SECOND * 10)
                .await
                .expect("stream ended before ready");
            if f.event == "ready" {
                assert_eq!(f.id, f.json()["seq"].as_i64(), "ready's id is its seq");
                return (changes, f.json()["seq"].as_i64().unwrap());
            }
            assert!(f.is_change(), "unexpected frame before ready: {f:?}");
            changes.push(f);
        }
    }
}

pub const SECOND: Duration = Duration::from_secs(1);

fn parse(block: &str) -> Frame {
    let mut frame = Frame {
        id: None,
        event: "message".into(),
        data: String::new(),
    };
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            frame.event = ":".into();
            frame.data = comment.trim().to_owned();
        } else if let Some(id) = line.strip_prefix("id: ") {
            frame.id = Some(id.parse().unwrap());
        } else if let Some(event) = line.strip_prefix("event: ") {
            frame.event = event.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            assert!(frame.data.is_empty(), "one data line per frame: {block:?}");
            frame.data = data.to_owned();
        } else if !line.is_empty() {
            panic!("unexpected line {line:?} in {block:?}");
        }
    }
    frame
}
