//! The service layer's error: what went wrong in domain terms. The HTTP edge maps it to a status
//! and the error envelope (`crate::error`), so workflows never speak HTTP.

use promptreg_core::content::ContentError;
use promptreg_core::publish::PublishError;
use promptreg_core::render::RenderError;
use promptreg_core::{NameError, RollbackError};
use promptreg_store::StoreError;

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is well-formed but not acceptable; the message names the field.
    #[error("{message}")]
    Invalid {
        /// snake_case code.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// A prompt, version, environment, token or deployment does not exist.
    #[error("{message}")]
    NotFound {
        /// `not_found`, `not_deployed`, …
        code: &'static str,
        /// Human text naming what is missing.
        message: String,
    },
    /// The change conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// `already_exists`, `nothing_to_roll_back`, `type_change`, …
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// A rule refused the change (a promotion gate, a required predecessor); 409 with
    /// `details` saying what the rule looked at.
    #[error("{message}")]
    Refused {
        /// `gate_failed`, `predecessor_required`.
        code: &'static str,
        /// Human text.
        message: String,
        /// The facts behind the refusal.
        details: serde_json::Value,
    },
    /// What was asked for existed and is gone for good (a pruned version's content).
    #[error("{message}")]
    Gone {
        /// `pruned`.
        code: &'static str,
        /// Human text naming what is gone and since when.
        message: String,
    },
    /// The policy refused the caller.
    #[error("{0}")]
    Forbidden(String),
    /// This replica cannot answer correctly now (the database or the change feed is down).
    #[error("{0}")]
    Unavailable(String),
    /// The database's storage is full: the write was not made.
    #[error("{0}")]
    StorageFull(String),
    /// A render failed (variables or template).
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Anything else; logged at the edge, never shown.
    #[error(transparent)]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// What a client is told when the database cannot be reached (the cause is logged).
pub const DATABASE_UNAVAILABLE: &str =
    "the database is unavailable; nothing was changed unless a later read shows it; retry later";

/// What a client is told when the database's disk is full (the cause is logged).
pub const STORAGE_FULL: &str =
    "the server's storage is full; the write was not made (reads still work); retry after space is freed";

/// Result of a service operation.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// 404 with code `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            code: "not_found",
            message: message.into(),
        }
    }

    /// 422-style invalid input with code `validation_failed`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            code: "validation_failed",
            message: message.into(),
        }
    }

    /// A conflict with a code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(message) => Self::not_found(message),
            StoreError::Conflict { code, message } => Self::Conflict { code, message },
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::Unavailable(DATABASE_UNAVAILABLE.into())
            }
            StoreError::StorageFull(cause) => {
                tracing::error!(error = %cause, "the database's storage is full");
                Self::StorageFull(STORAGE_FULL.into())
            }
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

impl From<ContentError> for ServiceError {
    fn from(e: ContentError) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<NameError> for ServiceError {
    fn from(e: NameError) -> Self {
        Self::Invalid {
            code: "invalid_request",
            message: e.to_string(),
        }
    }
}

impl From<RollbackError> for ServiceError {
    fn from(e: RollbackError) -> Self {
        let code = match e {
            RollbackError::NothingToRollBack => "nothing_to_roll_back",
            RollbackError::NotAnEarlierVersion(_) => "not_an_earlier_version",
        };
        Self::conflict(code, e.to_string())
    }
}

impl From<PublishError> for ServiceError {
    fn from(e: PublishError) -> Self {
        let code = match e {
            PublishError::TypeChange { .. } => "type_change",
            PublishError::Exhausted => "version_limit",
        };
        Self::conflict(code, e.to_string())
    }
}
