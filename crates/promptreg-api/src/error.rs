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
    /// Structured facts about the refusal, for some codes: `gate_failed` (the gate, its
    /// expression, its result and the values it read) and `predecessor_required` (the
    /// predecessor and the time the version spent there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}
