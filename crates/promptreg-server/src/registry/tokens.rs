//! Token workflows: create (secret shown once, stored as a hash), key pairs, revoke.

use promptreg_core::Role;
use promptreg_store::{TokenKind, TokenRecord};

use super::{Known, Registry};
use crate::auth::{hash_secret, new_secret, Principal};
use crate::error::ApiError;

/// Longest token label.
const MAX_NAME: usize = 100;

/// A created credential with its secret, which is never stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The stored record.
    pub record: TokenRecord,
    /// The secret (bearer token, or the key pair's secret key).
    pub secret: String,
}

impl Registry {
    /// Creates a bearer token or a key pair with a role no higher than the caller's.
    pub async fn create_token(
        &self,
        caller: &Principal,
        name: String,
        role: Role,
        kind: TokenKind,
    ) -> Result<IssuedToken, ApiError> {
        if name.trim().is_empty()
            || name.chars().count() > MAX_NAME
            || name.chars().any(char::is_control)
        {
            return Err(ApiError::unprocessable(format!(
                "name: a token name is 1-{MAX_NAME} printable characters"
            )));
        }
        if role > caller.role {
            return Err(ApiError::forbidden(format!(
                "cannot create a '{}' token with a '{}' token",
                role.as_str(),
                caller.role.as_str()
            )));
        }
        let id = format!("tok_{}", uuid_like());
        let (secret, public_key) = match kind {
            TokenKind::Bearer => (new_secret("prt_"), None),
            TokenKind::KeyPair => (new_secret("sk-pr-"), Some(format!("pk-pr-{}", uuid_like()))),
        };
        let record = TokenRecord {
            id,
            project: caller.project.clone(),
            name,
            role,
            kind,
            public_key,
            secret_hash: hex::encode(hash_secret(&secret)),
            created_by: caller.actor(),
            created_at: self.now(),
            revoked_at: None,
        };
        let committed = self.store.create_token(record).await?;
        let known = Known::Token(committed.value.clone());
        let record = self.applied(committed.event, known, committed.value).await;
        Ok(IssuedToken { record, secret })
    }

    /// Revokes a token; it stops working at once on this replica (and, through the change
    /// feed, on the others).
    pub async fn revoke_token(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<TokenRecord, ApiError> {
        let committed = self
            .store
            .revoke_token(&caller.project, id, self.now())
            .await?;
        Ok(self
            .applied(committed.event, Known::Nothing, committed.value)
            .await)
    }
}

/// 128 random bits as 32 hex digits.
fn uuid_like() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}
