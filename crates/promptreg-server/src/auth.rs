//! Who is calling, and whether they may.
//!
//! Tokens are kept in memory keyed by the SHA-256 of their secret (the store keeps only the
//! hash too), so authenticating a resolve costs one hash and one map lookup. [`authorize`] is
//! the single decision point: every handler states the [`Action`] it performs, and nothing else
//! compares roles. A policy engine with projects and per-environment grants replaces its body.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use parking_lot::RwLock;
use promptreg_core::{ProjectId, Role};
use promptreg_store::{TokenKind, TokenRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::ApiError;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id (`bootstrap-admin` for the configured admin token).
    pub id: String,
    /// Token label, recorded as the actor of changes.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The tenant it acts in.
    pub project: ProjectId,
}

impl Principal {
    /// How the caller appears in `created_by` and `actor` fields.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.id, self.name)
    }
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read versions, prompts, environments, history.
    Read,
    /// Resolve or render a deployed prompt.
    Resolve,
    /// Create a version.
    CreateVersion,
    /// Move a pointer (deploy or roll back).
    Deploy,
    /// Create environments.
    ManageEnvironments,
    /// Create, list and revoke tokens.
    ManageTokens,
}

/// The one authorization decision.
pub fn authorize(caller: &Principal, action: Action) -> Result<(), ApiError> {
    let needed = match action {
        Action::Read | Action::Resolve => Role::Reader,
        Action::CreateVersion => Role::Author,
        Action::Deploy => Role::Deployer,
        Action::ManageEnvironments | Action::ManageTokens => Role::Admin,
    };
    if caller.role >= needed {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "role '{}' may not {}; it needs role '{}'",
            caller.role.as_str(),
            describe(action),
            needed.as_str()
        )))
    }
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Resolve => "resolve prompts",
        Action::CreateVersion => "create versions",
        Action::Deploy => "deploy or roll back",
        Action::ManageEnvironments => "manage environments",
        Action::ManageTokens => "manage tokens",
    }
}

/// SHA-256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new random secret with a recognisable prefix (`prt_`, `sk-`).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

type KeyPairEntry = ([u8; 32], Arc<Principal>);

/// In-memory view of active tokens.
#[derive(Default)]
pub struct TokenCache {
    by_hash: RwLock<HashMap<[u8; 32], Arc<Principal>>>,
    /// Public key → (secret hash, principal).
    key_pairs: RwLock<HashMap<String, KeyPairEntry>>,
}

impl TokenCache {
    /// Adds the configured admin token.
    pub fn add_bootstrap(&self, secret: &str) {
        let admin = Principal {
            id: "bootstrap-admin".into(),
            name: "admin".into(),
            role: Role::Admin,
            project: ProjectId::default(),
        };
        self.by_hash
            .write()
            .insert(hash_secret(secret), Arc::new(admin));
    }

    /// Adds (or replaces) a stored token.
    pub fn insert(&self, token: &TokenRecord) {
        let Ok(hash) = hex::decode(&token.secret_hash).map(|h| <[u8; 32]>::try_from(h.as_slice()))
        else {
            return;
        };
        let Ok(hash) = hash else { return };
        let principal = Arc::new(Principal {
            id: token.id.clone(),
            name: token.name.clone(),
            role: token.role,
            project: token.project.clone(),
        });
        match (token.kind, &token.public_key) {
            (TokenKind::KeyPair, Some(pk)) => {
                self.key_pairs.write().insert(pk.clone(), (hash, principal));
            }
            _ => {
                self.by_hash.write().insert(hash, principal);
            }
        }
    }

    /// Forgets a token at once.
    pub fn remove(&self, id: &str) {
        self.by_hash.write().retain(|_, p| p.id != id);
        self.key_pairs.write().retain(|_, (_, p)| p.id != id);
    }

    /// Replaces all stored tokens (keeps the bootstrap admin).
    pub fn replace_all(&self, tokens: &[TokenRecord]) {
        self.by_hash
            .write()
            .retain(|_, p| p.id == "bootstrap-admin");
        self.key_pairs.write().clear();
        for t in tokens {
            self.insert(t);
        }
    }

    /// Authenticates an `Authorization` header value.
    pub fn authenticate(&self, header: &str) -> Option<Arc<Principal>> {
        if let Some(secret) = header.strip_prefix("Bearer ") {
            return self
                .by_hash
                .read()
                .get(&hash_secret(secret.trim()))
                .cloned();
        }
        let decoded = STANDARD
            .decode(header.strip_prefix("Basic ")?.trim())
            .ok()?;
        let (pk, sk) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
        let pairs = self.key_pairs.read();
        let (hash, principal) = pairs.get(pk)?;
        (*hash == hash_secret(sk)).then(|| principal.clone())
    }
}

/// The authenticated caller of a request; 401 when the token is missing or unknown.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Principal>);

impl Caller {
    /// Authenticates the `Authorization` header of a request.
    pub fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<Self, ApiError> {
        let header = headers
            .get(AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("missing Authorization header (expected `Bearer <token>`)")
            })?
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        state
            .registry
            .tokens()
            .authenticate(header)
            .map(Caller)
            .ok_or_else(|| ApiError::unauthorized("invalid or revoked token"))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_headers(state, &parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            id: "t".into(),
            name: "n".into(),
            role,
            project: ProjectId::default(),
        }
    }

    #[test]
    fn each_role_has_exactly_its_rights() {
        use Action::*;
        let table = [
            (Role::Reader, [true, true, false, false, false, false]),
            (Role::Author, [true, true, true, false, false, false]),
            (Role::Deployer, [true, true, true, true, false, false]),
            (Role::Admin, [true, true, true, true, true, true]),
        ];
        for (role, allowed) in table {
            for (action, ok) in [
                Read,
                Resolve,
                CreateVersion,
                Deploy,
                ManageEnvironments,
                ManageTokens,
            ]
            .into_iter()
            .zip(allowed)
            {
                assert_eq!(
                    authorize(&principal(role), action).is_ok(),
                    ok,
                    "{role:?} {action:?}"
                );
            }
        }
    }
}
