//! Token workflows: create (secret shown once, stored as a hash), key pairs, revoke.

use promptreg_core::{ChangeEvent, Role};
use promptreg_store::{TokenKind, TokenRecord};

use super::{Action, Caller, Known, Registry, Resource, ServiceError, ServiceResult};
use crate::auth::{hash_secret, new_secret};

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
        caller: &Caller,
        name: String,
        role: Role,
        kind: TokenKind,
    ) -> ServiceResult<IssuedToken> {
        self.check(
            caller,
            Action::ManageTokens,
            Resource::Project(&caller.project),
        )?;
        if name.trim().is_empty()
            || name.chars().count() > MAX_NAME
            || name.chars().any(char::is_control)
        {
            return Err(ServiceError::invalid(format!(
                "name: a token name is 1-{MAX_NAME} printable characters"
            )));
        }
        if role > caller.principal.role {
            return Err(ServiceError::Forbidden(format!(
                "cannot create a '{}' token with a '{}' token",
                role.as_str(),
                caller.principal.role.as_str()
            )));
        }
        let (secret, public_key) = match kind {
            TokenKind::Bearer => (new_secret("prt_"), None),
            TokenKind::KeyPair => (
                new_secret("sk-pr-"),
                Some(format!("pk-pr-{}", random_hex())),
            ),
        };
        let record = TokenRecord {
            id: format!("tok_{}", random_hex()),
            project: caller.project.clone(),
            name,
            role,
            kind,
            public_key,
            secret_hash: hex::encode(hash_secret(&secret)),
            created_by: caller.principal.actor(),
            created_at: self.now(),
            revoked_at: None,
        };
        let mut tx = self.store.begin(&caller.project).await?;
        tx.insert_token(&record).await?;
        let change = ChangeEvent::TokenCreated {
            project: caller.project.clone(),
            id: record.id.clone(),
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Token(record.clone())).await;
        Ok(IssuedToken { record, secret })
    }

    /// Revokes a token; it stops working at once on this replica (and, through the change
    /// feed, on the others).
    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> ServiceResult<TokenRecord> {
        self.check(
            caller,
            Action::ManageTokens,
            Resource::Project(&caller.project),
        )?;
        let mut tx = self.store.begin(&caller.project).await?;
        let token = tx.revoke_token(id, self.now()).await?.ok_or_else(|| {
            ServiceError::not_found(format!("token '{id}' not found or already revoked"))
        })?;
        let change = ChangeEvent::TokenRevoked {
            project: caller.project.clone(),
            id: id.to_owned(),
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Nothing).await;
        Ok(token)
    }
}

/// 128 random bits as 32 hex digits.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}
