//! Extractors whose rejections use the error envelope: JSON bodies (any content type, size
//! limited, unknown fields named), query strings and path segments.
//!
//! Every input is refused here, at the edge, when it holds the NUL character (U+0000): SQLite
//! stores it but PostgreSQL cannot (a 500 there), so both backends refuse it alike, with a 422
//! (body) or 400 (path, query) naming the field. Every JSON body must be an object: serde
//! would otherwise fill a struct from an array by position.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. The message of a bad body names the field and position.
#[derive(Debug, Clone)]
pub struct AppJson<T>(pub T);

/// A JSON body that may be empty (then `T::default()`).
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub T);

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "request body is larger than the server's limit",
                )
            } else {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            }
        })
}

/// Parses JSON, naming the offending field (`type: unknown variant ...`).
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_body(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            ApiError::unprocessable(format!("invalid request body: {field}{inner}"))
        } else {
            ApiError::bad_request(format!("invalid JSON body: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request("a JSON body is required"));
        }
        parse(&bytes).map(AppJson)
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

/// A query string; a bad one is a 400 naming the parameter.
#[derive(Debug, Clone)]
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        check_query(parts.uri.query().unwrap_or(""))?;
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| AppQuery(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(format!("invalid query string: {}", e.body_text()))
            })
    }
}

/// Path parameters, percent-decoded (`support%2Ftriage` is `support/triage`).
#[derive(Debug, Clone)]
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        check_path(parts.uri.path())?;
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| AppPath(p.0))
            .map_err(|e: PathRejection| {
                ApiError::bad_request(format!("invalid path: {}", e.body_text()))
            })
    }
}

/// A JSON body must be an object without NUL characters; refuses anything else, naming the
/// field (`messages[0].content`).
fn check_body(bytes: &[u8]) -> Result<(), ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        // Garbage is a syntax error (400); a well-formed array, string or number is 422.
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => ApiError::bad_request(format!("invalid JSON body: {e}")),
                Ok(_) => {
                    ApiError::unprocessable("invalid request body: the body must be a JSON object")
                }
            },
        );
    }
    // JSON can carry NUL only as the escape `\u0000`, so a body without one needs no walk.
    if !has_nul_escape(bytes) {
        return Ok(());
    }
    // A body that does not parse is refused by the typed parse that follows, with its message.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match nul_path(&value, &mut String::new()) {
        Some(path) => Err(ApiError::unprocessable(format!(
            "invalid request body: {path}: text must not contain the NUL character (U+0000)"
        ))),
        None => Ok(()),
    }
}

/// Whether the JSON text holds a `\u0000` escape (not an escaped backslash followed by
/// `u0000`).
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'\\') {
        let at = i + offset;
        if bytes.get(at + 1) == Some(&b'u') && bytes.get(at + 2..at + 6) == Some(b"0000") {
            return true;
        }
        // Skip the escaped character, so `\\` never starts a second escape.
        i = at + 2;
        if i >= bytes.len() {
            break;
        }
    }
    false
}

/// The path of the first string or key holding U+0000 (`metadata.tags[1]`).
fn nul_path(value: &serde_json::Value, path: &mut String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(path.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_path(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key.escape_debug().to_string());
            let found = if key.contains('\0') {
                Some(path.clone())
            } else {
                nul_path(item, path)
            };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// A query string must not carry NUL (`%00`): refuses it naming the parameter.
fn check_query(query: &str) -> Result<(), ApiError> {
    match query.split('&').find(|pair| pair.contains("%00")) {
        Some(pair) => {
            let name = pair.split('=').next().unwrap_or(pair);
            Err(ApiError::bad_request(format!(
                "invalid query string: parameter {name:?} contains the NUL character (%00)"
            )))
        }
        None => Ok(()),
    }
}

/// A path must not carry NUL (`%00`) in any segment.
fn check_path(path: &str) -> Result<(), ApiError> {
    if path.contains("%00") {
        return Err(ApiError::bad_request(
            "invalid path: a path segment contains the NUL character (%00)",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_told_from_escaped_backslashes() {
        assert!(has_nul_escape(br#"{"a": "x\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a": "x\\u0000"}"#));
        assert!(has_nul_escape(br#"{"a": "x\\\u0000"}"#));
        assert!(has_nul_escape(br#"{"a": "\u00001"}"#));
        assert!(!has_nul_escape(br#"{"a": "\u0001"}"#));
        assert!(!has_nul_escape(b"\\"));
    }

    #[test]
    fn the_path_of_a_nul_names_the_field() {
        let body = br#"{"type": "chat", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b\u0000"}]}"#;
        let e = check_body(body).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.message.contains("messages[1].content"), "{}", e.message);
        let key = check_body(br#"{"metadata": {"k\u0000": 1}}"#).unwrap_err();
        assert!(key.message.contains(r"metadata.k\0"), "{}", key.message);
    }

    #[test]
    fn bodies_must_be_objects() {
        let array = check_body(br#"[{"name": "Ada"}]"#).unwrap_err();
        assert_eq!(array.status, StatusCode::UNPROCESSABLE_ENTITY);
        let garbage = check_body(b"[1,").unwrap_err();
        assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
        assert!(check_body(br#" {"a": "\\u0000"}"#).is_ok());
    }
}
