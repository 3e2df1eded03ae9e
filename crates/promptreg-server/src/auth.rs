//! Who is calling: credentials, the token cache and the [`Caller`] extractor.
//!
//! Tokens are kept in memory keyed by the SHA-256 of their secret (the store keeps only the
//! hash too), so authenticating a resolve costs one hash and one map lookup. Whether a caller
//! *may* do something is not decided here but by the service layer's policy
//! (`registry::policy`), asked by every operation with the resource it acts on.
//!
//! `/v1` takes `Authorization: Bearer <token>` only, as the v1 contract says; key pairs (HTTP
//! Basic `public:secret`) authenticate the Langfuse-compatible routes, where the Langfuse SDKs
//! send them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use parking_lot::RwLock;
use promptreg_core::{GrantScope, ProjectId, Role};
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
    /// Whether it administers the server (creates projects, issues tokens in any project).
    /// Only the bootstrap admin is one today.
    pub server_admin: bool,
    /// Where its deploy and rollback grants reach.
    pub scope: GrantScope,
}

/// The id of the configured admin token's principal.
pub const BOOTSTRAP_ID: &str = "bootstrap-admin";

impl Principal {
    /// How the caller appears in `created_by` and `actor` fields.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.id, self.name)
    }

    /// The principal of a stored token.
    pub fn of(token: &TokenRecord) -> Self {
        Self {
            id: token.id.clone(),
            name: token.name.clone(),
            role: token.role,
            project: token.project.clone(),
            server_admin: false,
            scope: GrantScope::default(),
        }
    }

    /// A principal the server itself acts as (the rollout controller, first start-up).
    pub fn system(id: &str, name: &str, project: &ProjectId) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            role: Role::Admin,
            project: project.clone(),
            server_admin: false,
            scope: GrantScope::default(),
        }
    }

    /// Whether this is the configured admin token (it lives in configuration, not the store).
    pub fn is_bootstrap(&self) -> bool {
        self.id == BOOTSTRAP_ID
    }
}

/// A credential presented in an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Bearer <secret>`: the secret's hash.
    Bearer {
        /// SHA-256 of the secret.
        hash: [u8; 32],
    },
    /// `Basic base64(public:secret)`: a key pair.
    KeyPair {
        /// The public key.
        public_key: String,
        /// SHA-256 of the secret key.
        secret_hash: [u8; 32],
    },
}

impl Credential {
    /// Whether a stored token is the one this credential proves.
    pub fn matches(&self, token: &TokenRecord) -> bool {
        let stored = hex::decode(&token.secret_hash).unwrap_or_default();
        match self {
            Credential::Bearer { hash } => {
                token.kind == TokenKind::Bearer && stored.as_slice() == hash.as_slice()
            }
            Credential::KeyPair {
                public_key,
                secret_hash,
            } => {
                token.kind == TokenKind::KeyPair
                    && token.public_key.as_deref() == Some(public_key.as_str())
                    && stored.as_slice() == secret_hash.as_slice()
            }
        }
    }
}

/// Parses an `Authorization` header value.
pub fn parse_credential(header: &str) -> Option<Credential> {
    if let Some(secret) = header.strip_prefix("Bearer ") {
        return Some(Credential::Bearer {
            hash: hash_secret(secret.trim()),
        });
    }
    let decoded = STANDARD
        .decode(header.strip_prefix("Basic ")?.trim())
        .ok()?;
    let (pk, sk) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(Credential::KeyPair {
        public_key: pk.to_owned(),
        secret_hash: hash_secret(sk),
    })
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
    /// Adds the configured admin token. `instance` names this server process in the actor
    /// of what it does, so that the admins of two replicas are told apart in history.
    pub fn add_bootstrap(&self, secret: &str, instance: &str) {
        let admin = Principal {
            id: BOOTSTRAP_ID.into(),
            name: format!("admin@{instance}"),
            role: Role::Admin,
            project: ProjectId::default(),
            server_admin: true,
            scope: GrantScope::default(),
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
        let principal = Arc::new(Principal::of(token));
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
        self.by_hash.write().retain(|_, p| p.is_bootstrap());
        self.key_pairs.write().clear();
        for t in tokens {
            self.insert(t);
        }
    }

    /// Authenticates an `Authorization` header value from memory.
    pub fn authenticate(&self, header: &str) -> Option<Arc<Principal>> {
        match parse_credential(header)? {
            Credential::Bearer { hash } => self.by_hash.read().get(&hash).cloned(),
            Credential::KeyPair {
                public_key,
                secret_hash,
            } => {
                let pairs = self.key_pairs.read();
                let (hash, principal) = pairs.get(&public_key)?;
                (*hash == secret_hash).then(|| principal.clone())
            }
        }
    }
}

/// The authenticated caller of a request with the request's id; 401 when the credential is
/// missing or unknown. Dereferences to the [`Principal`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Arc<Principal>,
    /// The request's `x-request-id`, recorded with the changes it makes.
    pub request_id: Option<String>,
    /// The policy's last decision for this caller, recorded with the change it allowed.
    pub decision: DecisionSlot,
}

/// Where the service layer keeps the policy decision behind the change a caller is making:
/// a workflow asks the policy once, then appends its event, which records the ids of the
/// policies that allowed it. Clones share the slot.
#[derive(Debug, Clone, Default)]
pub struct DecisionSlot(Arc<parking_lot::Mutex<Option<crate::registry::Decision>>>);

impl DecisionSlot {
    /// Keeps `decision` as the latest.
    pub fn set(&self, decision: crate::registry::Decision) {
        *self.0.lock() = Some(decision);
    }

    /// The latest decision, if the policy was asked.
    pub fn get(&self) -> Option<crate::registry::Decision> {
        self.0.lock().clone()
    }
}

impl std::ops::Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl Caller {
    /// A caller outside any request (tests, background work).
    pub fn internal(principal: Principal) -> Self {
        Self {
            principal: Arc::new(principal),
            request_id: None,
            decision: DecisionSlot::default(),
        }
    }

    /// Authenticates the `Authorization` header; `allow_key_pairs` admits HTTP Basic key
    /// pairs (the Langfuse routes).
    pub async fn from_headers(
        state: &AppState,
        headers: &HeaderMap,
        allow_key_pairs: bool,
    ) -> Result<Self, ApiError> {
        let header = headers
            .get(AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("missing Authorization header (expected `Bearer <token>`)")
            })?
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        if !allow_key_pairs && header.starts_with("Basic ") {
            return Err(ApiError::unauthorized(
                "key pairs (HTTP Basic) authenticate the Langfuse-compatible routes \
                 (/api/public/...); /v1 takes `Authorization: Bearer <token>`",
            ));
        }
        let principal = state
            .registry
            .authenticate(header)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid or revoked token"))?;
        let request_id = headers
            .get(crate::request_id::HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Caller {
            principal,
            request_id,
            decision: DecisionSlot::default(),
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_headers(state, &parts.headers, false).await
    }
}

/// The caller of a Langfuse-compatible route: a key pair (as the Langfuse SDKs send) or a
/// bearer token.
#[derive(Debug, Clone)]
pub struct KeyPairCaller(pub Caller);

impl FromRequestParts<AppState> for KeyPairCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_headers(state, &parts.headers, true)
            .await
            .map(KeyPairCaller)
    }
}
