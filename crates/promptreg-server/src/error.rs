//! `ApiError`: the one error type of the HTTP layer and the service layer, rendered as the
//! envelope `{"error": {"code", "message"}}`. Internal causes are logged once here and never
//! sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use promptreg_api::{ErrorBody, ErrorDetail};
use promptreg_core::content::ContentError;
use promptreg_core::render::RenderError;
use promptreg_core::NameError;
use promptreg_store::StoreError;

/// An error answer: status, machine code and a human message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// snake_case code.
    pub code: &'static str,
    /// Human text naming the problem.
    pub message: String,
    /// Structured facts for some refusals (`gate_failed`, `predecessor_required`).
    pub details: Option<Box<serde_json::Value>>,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 429 `too_many_requests` with `Retry-After: <seconds>`.
    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 422 `validation_failed`.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 500 `internal`: the cause is logged, the client sees a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                details: self.details.map(|d| *d),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            e @ (StoreError::Unavailable(_) | StoreError::StorageFull(_)) => {
                crate::registry::ServiceError::from(e).into()
            }
            StoreError::Other(cause) => ApiError::internal(&cause),
        }
    }
}

impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        ApiError::unprocessable(e.to_string())
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Limit { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "render_limit_exceeded",
                e.to_string(),
            ),
            _ => ApiError::unprocessable(e.to_string()),
        }
    }
}

impl From<crate::registry::ServiceError> for ApiError {
    fn from(e: crate::registry::ServiceError) -> Self {
        use crate::registry::ServiceError as S;
        match e {
            S::Invalid {
                code: "invalid_request",
                message,
            } => ApiError::bad_request(message),
            S::Invalid { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            S::NotFound { code, message } => ApiError::new(StatusCode::NOT_FOUND, code, message),
            S::Conflict { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            S::Gone { code, message } => ApiError::new(StatusCode::GONE, code, message),
            S::Refused {
                code,
                message,
                details,
            } => ApiError {
                details: Some(Box::new(details)),
                ..ApiError::new(StatusCode::CONFLICT, code, message)
            },
            S::Forbidden(message) => ApiError::forbidden(message),
            S::Unavailable(message) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            S::StorageFull(message) => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "storage_full", message)
            }
            S::Render(e) => e.into(),
            S::Internal(cause) => ApiError::internal(&cause),
        }
    }
}
