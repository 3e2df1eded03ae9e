//! OFREP's error answers, converted from [`ApiError`] in this one place, so every failure on
//! the OFREP routes (authentication, throttling, bad bodies, unknown flags, the store) has
//! OFREP's body `{key?, errorCode, errorDetails}` and a status an OFREP provider understands.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::wire::{BodyError, FlagFailure};
use crate::error::ApiError;

/// An OFREP error answer.
#[derive(Debug)]
pub struct OfrepError {
    status: StatusCode,
    /// Boxed: with the stable value and its metadata the body is large, and handlers return
    /// this error by value.
    body: Box<FlagFailure>,
    retry_after: Option<u64>,
}

impl OfrepError {
    /// An error about flag `key` (`None` on the bulk route).
    pub fn new(
        status: StatusCode,
        key: Option<&str>,
        code: &'static str,
        details: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: Box::new(FlagFailure {
                key: key.map(str::to_owned),
                error_code: code,
                error_details: details.into(),
                value: None,
                variant: None,
                metadata: None,
            }),
            retry_after: None,
        }
    }

    /// A refused request body: 400 with its code.
    pub fn body(key: Option<&str>, (code, details): BodyError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, key, code, details)
    }

    /// A 400 with a failure body already built (`TARGETING_KEY_MISSING` with its value).
    pub fn failure(body: FlagFailure) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: Box::new(body),
            retry_after: None,
        }
    }

    /// The OFREP form of an error of the rest of the server. OFREP defines bodies for 400,
    /// 404 and 500 only; the others keep their status (which is what providers act on:
    /// `Retry-After` on 429) and carry `GENERAL`.
    pub fn from_api(e: ApiError, key: Option<&str>) -> Self {
        let (status, code) = match e.status {
            StatusCode::BAD_REQUEST => (StatusCode::BAD_REQUEST, "PARSE_ERROR"),
            StatusCode::NOT_FOUND if key.is_some() => (StatusCode::NOT_FOUND, "FLAG_NOT_FOUND"),
            s @ (StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::SERVICE_UNAVAILABLE) => (s, "GENERAL"),
            s if s.is_client_error() => (StatusCode::BAD_REQUEST, "GENERAL"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "GENERAL"),
        };
        Self {
            retry_after: e.retry_after,
            ..Self::new(status, key, code, e.message)
        }
    }
}

impl From<ApiError> for OfrepError {
    fn from(e: ApiError) -> Self {
        Self::from_api(e, None)
    }
}

impl From<crate::registry::ServiceError> for OfrepError {
    fn from(e: crate::registry::ServiceError) -> Self {
        Self::from_api(e.into(), None)
    }
}

impl IntoResponse for OfrepError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(*self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
