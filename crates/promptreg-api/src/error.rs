//! The error envelope every non-2xx response carries.

use serde::{Deserialize, Serialize};

/// `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A machine-readable code and a human message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// snake_case code, e.g. `not_found`, `invalid_request`, `nothing_to_roll_back`.
    pub code: String,
    /// Human text naming the field or object concerned.
    pub message: String,
}
