//! Token workflows: create (secret shown once, stored as a hash), key pairs, revoke, and the
//! last-use times kept in memory and flushed in batches.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use promptreg_core::{ChangeEvent, EnvName, GrantScope, ProjectId, Role};
use promptreg_store::{StoreError, TokenKind, TokenRecord};
use tokio_util::sync::CancellationToken;

use super::{Action, Caller, Known, Registry, Resource, ServiceError, ServiceResult};
use crate::auth::{hash_secret, new_secret};

/// Longest token label.
const MAX_NAME: usize = 100;
/// Longest prompt prefix a grant may name (a prompt name is at most 200 characters).
const MAX_PREFIX: usize = 200;
/// Most environments or prefixes one grant may list.
const MAX_LIMITS: usize = 100;
/// How often each replica writes the last-use times it saw (and once more at shutdown).
pub const TOKEN_USE_FLUSH: Duration = Duration::from_secs(30);

/// A created credential with its secret, which is never stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The stored record.
    pub record: TokenRecord,
    /// The secret (bearer token, or the key pair's secret key).
    pub secret: String,
}

/// What a caller asks a new token to be.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Label.
    pub name: String,
    /// Role in its project.
    pub role: Role,
    /// Bearer token or key pair.
    pub kind: TokenKind,
    /// Its project (server administrators only; default the caller's).
    pub project: Option<String>,
    /// The environments its deploy and rollback grants are limited to.
    pub environments: Option<Vec<String>>,
    /// The prompt name prefixes its grants are limited to.
    pub prompt_prefixes: Option<Vec<String>>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Registry {
    /// Creates a bearer token or a key pair with no more than the caller has: a role no higher,
    /// grants no wider, in the caller's project unless the caller administers the server.
    pub async fn create_token(
        &self,
        caller: &Caller,
        request: TokenRequest,
    ) -> ServiceResult<IssuedToken> {
        let project = self
            .token_project(caller, request.project.as_deref())
            .await?;
        self.check(caller, Action::ManageTokens, Resource::Project(&project))?;
        let TokenRequest {
            name,
            role,
            kind,
            environments,
            prompt_prefixes,
            expires_at,
            ..
        } = request;
        if name.trim().is_empty()
            || name.chars().count() > MAX_NAME
            || name.chars().any(char::is_control)
        {
            return Err(ServiceError::invalid(format!(
                "name: a token name is 1-{MAX_NAME} printable characters"
            )));
        }
        let now = self.now();
        if let Some(at) = expires_at {
            if at <= now {
                return Err(bad(format!(
                    "expires_at: {} is not in the future",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
            }
        }
        let scope = GrantScope {
            environments: self.granted_environments(&project, environments).await?,
            prompt_prefixes: granted_prefixes(prompt_prefixes)?,
        };
        if role > caller.principal.role {
            return Err(ServiceError::Forbidden(format!(
                "cannot create a '{}' token with a '{}' token",
                role.as_str(),
                caller.principal.role.as_str()
            )));
        }
        no_wider(&caller.principal.scope, &scope)?;
        let (secret, public_key) = match kind {
            TokenKind::Bearer => (new_secret("prt_"), None),
            TokenKind::KeyPair => (
                new_secret("sk-pr-"),
                Some(format!("pk-pr-{}", random_hex())),
            ),
        };
        let record = TokenRecord {
            id: format!("tok_{}", random_hex()),
            project: project.clone(),
            name,
            role,
            kind,
            public_key,
            secret_hash: hex::encode(hash_secret(&secret)),
            created_by: caller.principal.actor(),
            created_at: now,
            revoked_at: None,
            scope,
            expires_at,
            last_used_at: None,
        };
        let mut tx = self.store.begin(&project).await?;
        tx.insert_token(&record).await?;
        let change = ChangeEvent::TokenCreated {
            project: project.clone(),
            id: record.id.clone(),
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Token(record.clone())).await;
        Ok(IssuedToken { record, secret })
    }

    /// The project a new token goes into: the caller's, or (server administrators only) one
    /// that exists. Another project named by anyone else is 404, as every foreign resource is.
    async fn token_project(
        &self,
        caller: &Caller,
        asked: Option<&str>,
    ) -> ServiceResult<ProjectId> {
        let Some(asked) = asked else {
            return Ok(caller.project.clone());
        };
        let id = ProjectId::parse(asked).map_err(|e| bad(format!("project: {e}")))?;
        if id == caller.project {
            return Ok(id);
        }
        if !caller.principal.server_admin {
            return Err(ServiceError::not_found(format!("project '{id}' not found")));
        }
        match self.store.get_project(&id).await {
            Ok(p) => Ok(p.id),
            Err(StoreError::NotFound(_)) => Err(ServiceError::not_found(format!(
                "project '{id}' not found: a token can only be issued in a project that exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The environments a grant is limited to, each one of the project's (400 naming the
    /// first that is not).
    async fn granted_environments(
        &self,
        project: &ProjectId,
        asked: Option<Vec<String>>,
    ) -> ServiceResult<Option<Vec<EnvName>>> {
        let Some(asked) = asked else { return Ok(None) };
        if asked.is_empty() || asked.len() > MAX_LIMITS {
            return Err(bad(format!(
                "environments: list 1-{MAX_LIMITS} environments, or leave it out for all"
            )));
        }
        let known: Vec<EnvName> = self
            .store
            .list_environments(project)
            .await?
            .into_iter()
            .map(|e| e.name)
            .collect();
        let mut out = Vec::with_capacity(asked.len());
        for name in asked {
            let env = EnvName::parse(&name).map_err(|e| bad(format!("environments: {e}")))?;
            if !known.contains(&env) {
                return Err(bad(format!(
                    "environments: environment '{env}' does not exist in project '{project}'"
                )));
            }
            if !out.contains(&env) {
                out.push(env);
            }
        }
        Ok(Some(out))
    }

    /// Revokes a token of the caller's project; it stops working at once on this replica
    /// (and, through the change feed, on the others). Another project's token is 404.
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

    /// Writes the last-use times seen here since the previous flush, in one statement.
    pub async fn flush_token_use(&self) -> ServiceResult<()> {
        let batch = self.tokens.take_unflushed();
        if batch.is_empty() {
            return Ok(());
        }
        self.store.record_token_use(&batch).await?;
        Ok(())
    }
}

/// Flushes token use every `TOKEN_USE_FLUSH` (30 s) until `stop` (the last flush is made by
/// `AppState::shutdown`).
pub async fn run_token_use_flusher(
    registry: Arc<Registry>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(TOKEN_USE_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = tick.tick() => {
                if let Err(e) = registry.flush_token_use().await {
                    tracing::warn!(error = %e, "flushing token use times failed; retrying at the next tick");
                }
            }
        }
    }
}

/// The prompt prefixes a grant is limited to: non-empty, at most [`MAX_PREFIX`] characters.
fn granted_prefixes(asked: Option<Vec<String>>) -> ServiceResult<Option<Vec<String>>> {
    let Some(asked) = asked else { return Ok(None) };
    if asked.is_empty() || asked.len() > MAX_LIMITS {
        return Err(bad(format!(
            "prompt_prefixes: list 1-{MAX_LIMITS} prefixes, or leave it out for all prompts"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(asked.len());
    for p in asked {
        if p.is_empty() || p.chars().count() > MAX_PREFIX || p.chars().any(char::is_control) {
            return Err(bad(format!(
                "prompt_prefixes: a prefix is 1-{MAX_PREFIX} printable characters, not {p:?}"
            )));
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(Some(out))
}

/// Refuses a grant wider than the issuer's own: an issuer limited to some environments or
/// prefixes can only issue tokens limited to (a subset of) them.
fn no_wider(issuer: &GrantScope, asked: &GrantScope) -> ServiceResult<()> {
    if let Some(mine) = &issuer.environments {
        match &asked.environments {
            None => {
                return Err(ServiceError::Forbidden(format!(
                    "this token's grants are limited to environments {}; a token it issues \
                     must list environments among them",
                    mine.iter()
                        .map(EnvName::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            Some(envs) => {
                if let Some(extra) = envs.iter().find(|e| !mine.contains(e)) {
                    return Err(ServiceError::Forbidden(format!(
                        "this token has no grant in environment '{extra}'"
                    )));
                }
            }
        }
    }
    if let Some(mine) = &issuer.prompt_prefixes {
        match &asked.prompt_prefixes {
            None => {
                return Err(ServiceError::Forbidden(format!(
                    "this token's grants are limited to prompt prefixes {}; a token it issues \
                     must list prefixes within them",
                    mine.join(", ")
                )))
            }
            Some(prefixes) => {
                if let Some(extra) = prefixes
                    .iter()
                    .find(|p| !mine.iter().any(|m| p.starts_with(m.as_str())))
                {
                    return Err(ServiceError::Forbidden(format!(
                        "this token has no grant on prompts starting with '{extra}'"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// 128 random bits as 32 hex digits.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

/// 400 `invalid_request` naming the field.
fn bad(message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        code: "invalid_request",
        message: message.into(),
    }
}
