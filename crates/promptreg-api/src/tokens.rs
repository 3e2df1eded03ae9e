//! Tokens and key pairs.

use chrono::{DateTime, Utc};
use promptreg_core::Role;
use serde::{Deserialize, Serialize};

/// `POST /v1/tokens` and `POST /v1/key-pairs` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label, 1-100 characters.
    pub name: String,
    /// `reader`, `author`, `deployer` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
}

/// A created bearer token: the secret is shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenCreated {
    /// Token id (for revocation).
    pub id: String,
    /// Label.
    pub name: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
    /// The secret; store it now, it cannot be shown again.
    pub token: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A created key pair (Basic auth for the Langfuse-compatible routes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyPairCreated {
    /// Id (for revocation through `DELETE /v1/tokens/{id}`).
    pub id: String,
    /// Label.
    pub name: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
    /// `pk-…`, the Basic-auth user name.
    pub public_key: String,
    /// `sk-…`, the Basic-auth password; shown only here.
    pub secret_key: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
    /// `bearer` or `key_pair`.
    pub kind: String,
    /// For key pairs, the public key.
    pub public_key: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}
