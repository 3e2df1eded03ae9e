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
    /// `reader`, `author`, `reviewer`, `deployer` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
    /// The project the token acts in (server administrators only); default the caller's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The environments its deploy and rollback grants are limited to (each must exist in
    /// the token's project); absent: every environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// The prompt name prefixes its grants are limited to; absent: every prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_prefixes: Option<Vec<String>>,
    /// When it stops working (RFC 3339, in the future); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl CreateToken {
    /// A token of `role` with no limits beyond it.
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
            project: None,
            environments: None,
            prompt_prefixes: None,
            expires_at: None,
        }
    }
}

/// What a token's grants reach and until when (in every token answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenGrants {
    /// The project it acts in.
    pub project: String,
    /// The environments its deploy and rollback grants are limited to (`null`: all).
    pub environments: Option<Vec<String>>,
    /// The prompt name prefixes its grants are limited to (`null`: all).
    pub prompt_prefixes: Option<Vec<String>>,
    /// When it stops working (`null`: never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /v1/projects` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// The project id: 1-63 characters of `[a-z0-9][a-z0-9._-]*` (an environment name's rule).
    pub id: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A project (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectView {
    /// Id.
    pub id: String,
    /// What it is for.
    pub description: Option<String>,
    /// Who created it (`migration` for the default project).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
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
    /// Project, limits and expiry.
    #[serde(flatten)]
    pub grants: TokenGrants,
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
    /// Project, limits and expiry.
    #[serde(flatten)]
    pub grants: TokenGrants,
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
    /// Project, limits and expiry.
    #[serde(flatten)]
    pub grants: TokenGrants,
    /// When it last authenticated a request (kept in memory by each server and written in
    /// batches, so it may lag by up to half a minute across replicas); `null`: never.
    pub last_used_at: Option<DateTime<Utc>>,
}
