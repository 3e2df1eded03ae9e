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
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
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
            scope: token.scope.clone(),
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

/// A stored token as the cache holds it: who it is, until when, and when it was last used
/// here (kept in memory and flushed in batches, never written per request).
pub(crate) struct Cached {
    principal: Arc<Principal>,
    expires_at: Option<DateTime<Utc>>,
    /// Microseconds since the epoch of the last use seen here (0: none).
    last_used: AtomicI64,
    /// The last use already flushed to the store.
    flushed: AtomicI64,
}

impl Cached {
    fn new(principal: Arc<Principal>, expires_at: Option<DateTime<Utc>>) -> Arc<Self> {
        Arc::new(Self {
            principal,
            expires_at,
            last_used: AtomicI64::new(0),
            flushed: AtomicI64::new(0),
        })
    }

    /// The principal, when the token has not expired at `now`; records the use.
    fn admit(&self, now: DateTime<Utc>) -> Option<Arc<Principal>> {
        if self.expires_at.is_some_and(|t| t <= now) {
            return None;
        }
        if !self.principal.is_bootstrap() {
            self.last_used
                .fetch_max(now.timestamp_micros(), Ordering::Relaxed);
        }
        Some(self.principal.clone())
    }
}

type KeyPairEntry = ([u8; 32], Arc<Cached>);

/// In-memory view of active tokens.
#[derive(Default)]
pub struct TokenCache {
    by_hash: RwLock<HashMap<[u8; 32], Arc<Cached>>>,
    /// Public key → (secret hash, token).
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
            .insert(hash_secret(secret), Cached::new(Arc::new(admin), None));
    }

    /// Adds (or replaces) a stored token, keeping the use already seen here.
    pub fn insert(&self, token: &TokenRecord) {
        let Ok(hash) = hex::decode(&token.secret_hash).map(|h| <[u8; 32]>::try_from(h.as_slice()))
        else {
            return;
        };
        let Ok(hash) = hash else { return };
        let entry = Cached::new(Arc::new(Principal::of(token)), token.expires_at);
        match (token.kind, &token.public_key) {
            (TokenKind::KeyPair, Some(pk)) => {
                let mut pairs = self.key_pairs.write();
                if let Some((_, old)) = pairs.get(pk) {
                    carry_use(old, &entry);
                }
                pairs.insert(pk.clone(), (hash, entry));
            }
            _ => {
                let mut tokens = self.by_hash.write();
                if let Some(old) = tokens.get(&hash) {
                    carry_use(old, &entry);
                }
                tokens.insert(hash, entry);
            }
        }
    }

    /// Forgets a token at once.
    pub fn remove(&self, id: &str) {
        self.by_hash.write().retain(|_, c| c.principal.id != id);
        self.key_pairs
            .write()
            .retain(|_, (_, c)| c.principal.id != id);
    }

    /// Replaces all stored tokens (keeps the bootstrap admin).
    pub fn replace_all(&self, tokens: &[TokenRecord]) {
        self.by_hash
            .write()
            .retain(|_, c| c.principal.is_bootstrap());
        self.key_pairs.write().clear();
        for t in tokens {
            self.insert(t);
        }
    }

    /// Authenticates an `Authorization` header value from memory, now.
    pub fn authenticate(&self, header: &str) -> Option<Arc<Principal>> {
        self.authenticate_at(header, Utc::now())
    }

    /// Authenticates an `Authorization` header value from memory at `now`: an expired token
    /// is refused here, on every replica, without waiting for any event.
    pub fn authenticate_at(&self, header: &str, now: DateTime<Utc>) -> Option<Arc<Principal>> {
        match parse_credential(header)? {
            Credential::Bearer { hash } => self.by_hash.read().get(&hash)?.admit(now),
            Credential::KeyPair {
                public_key,
                secret_hash,
            } => {
                let pairs = self.key_pairs.read();
                let (hash, cached) = pairs.get(&public_key)?;
                if *hash != secret_hash {
                    return None;
                }
                cached.admit(now)
            }
        }
    }

    /// The last use seen here of each token, by id (what a token list shows besides the
    /// stored time).
    pub fn last_used(&self) -> HashMap<String, DateTime<Utc>> {
        self.entries()
            .filter_map(|c| {
                Some((
                    c.principal.id.clone(),
                    micros(c.last_used.load(Ordering::Relaxed))?,
                ))
            })
            .collect()
    }

    /// The uses seen since the last flush, marked flushed: one batch for the store.
    pub fn take_unflushed(&self) -> Vec<(String, DateTime<Utc>)> {
        self.entries()
            .filter_map(|c| {
                let used = c.last_used.load(Ordering::Relaxed);
                let before = c.flushed.fetch_max(used, Ordering::Relaxed);
                if used <= before {
                    return None;
                }
                Some((c.principal.id.clone(), micros(used)?))
            })
            .collect()
    }

    fn entries(&self) -> impl Iterator<Item = Arc<Cached>> {
        let mut all: Vec<Arc<Cached>> = self.by_hash.read().values().cloned().collect();
        all.extend(self.key_pairs.read().values().map(|(_, c)| c.clone()));
        all.into_iter().filter(|c| !c.principal.is_bootstrap())
    }
}

/// Keeps the use seen of a token that is replaced in the cache (the same token read again).
fn carry_use(old: &Cached, new: &Cached) {
    if old.principal.id == new.principal.id {
        new.last_used
            .store(old.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
        new.flushed
            .store(old.flushed.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

fn micros(t: i64) -> Option<DateTime<Utc>> {
    (t > 0)
        .then(|| DateTime::from_timestamp_micros(t))
        .flatten()
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
        peer: Option<IpAddr>,
        allow_key_pairs: bool,
    ) -> Result<Self, ApiError> {
        let throttle = &state.auth_throttle;
        if let Some(wait) = peer.and_then(|ip| throttle.blocked(ip)) {
            state.metrics.auth_throttled.inc();
            return Err(ApiError::too_many_requests(
                format!(
                    "too many failed authentication attempts from this address; retry in {wait} s"
                ),
                wait,
            ));
        }
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
        let Some(principal) = state.registry.authenticate(header).await? else {
            state.metrics.auth_failures.inc();
            if let Some(ip) = peer {
                throttle.failed(ip);
            }
            return Err(ApiError::unauthorized("invalid, expired or revoked token"));
        };
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
        Caller::from_headers(state, &parts.headers, peer(&parts.extensions), false).await
    }
}

/// The caller of a Langfuse-compatible route: a key pair (as the Langfuse SDKs send) or a
/// bearer token.
#[derive(Debug, Clone)]
pub struct KeyPairCaller(pub Caller);

impl FromRequestParts<AppState> for KeyPairCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_headers(state, &parts.headers, peer(&parts.extensions), true)
            .await
            .map(KeyPairCaller)
    }
}

/// The TCP peer address of a request, when the server recorded it (`connections` does; a
/// router called in-process does not, and then nothing is throttled).
pub fn peer(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}
