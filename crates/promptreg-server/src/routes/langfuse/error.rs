//! Langfuse's error body `{"message", "error": "<ErrorName>"}`, converted from [`ApiError`] in
//! this one place, so every failure on the compatibility routes (auth, bad input, store) looks
//! the way the Langfuse SDKs expect.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::error::ApiError;

/// The body of a Langfuse error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LangfuseErrorBody {
    /// Human text naming the problem.
    pub message: String,
    /// `NotFoundError`, `UnauthorizedError`, `AccessDeniedError`, `InvalidRequestError`,
    /// `MethodNotAllowedError`, `ServiceUnavailableError` or `InternalServerError`.
    pub error: &'static str,
}

/// An [`ApiError`] answered in Langfuse's form.
#[derive(Debug)]
pub struct LangfuseError(pub ApiError);

impl From<ApiError> for LangfuseError {
    fn from(e: ApiError) -> Self {
        LangfuseError(e)
    }
}

impl LangfuseError {
    /// 400 `InvalidRequestError`.
    pub fn invalid(message: impl Into<String>) -> Self {
        LangfuseError(ApiError::bad_request(message))
    }

    /// The status and error name Langfuse uses for this error. Langfuse has no 409 or 422:
    /// conflicts and validation failures are 400 there.
    fn kind(&self) -> (StatusCode, &'static str) {
        match self.0.status {
            StatusCode::UNAUTHORIZED => (StatusCode::UNAUTHORIZED, "UnauthorizedError"),
            StatusCode::FORBIDDEN => (StatusCode::FORBIDDEN, "AccessDeniedError"),
            // A pruned version: Langfuse has no such state, and for its SDKs it is not there.
            StatusCode::NOT_FOUND | StatusCode::GONE => (StatusCode::NOT_FOUND, "NotFoundError"),
            StatusCode::METHOD_NOT_ALLOWED => {
                (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowedError")
            }
            StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "InvalidRequestError"),
            StatusCode::SERVICE_UNAVAILABLE => {
                (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableError")
            }
            s if s.is_server_error() => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
            _ => (StatusCode::BAD_REQUEST, "InvalidRequestError"),
        }
    }
}

impl IntoResponse for LangfuseError {
    fn into_response(self) -> Response {
        let (status, error) = self.kind();
        let body = LangfuseErrorBody {
            message: self.0.message,
            error,
        };
        (status, Json(body)).into_response()
    }
}

/// Result of a Langfuse handler.
pub type LfResult<T> = Result<T, LangfuseError>;

impl From<crate::registry::ServiceError> for LangfuseError {
    fn from(e: crate::registry::ServiceError) -> Self {
        LangfuseError(e.into())
    }
}
