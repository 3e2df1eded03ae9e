//! Records the store keeps and returns: domain types in, domain types out.

use chrono::{DateTime, Utc};
use promptreg_core::integrity::seal::SealedContent;
use promptreg_core::{
    ChangeEvent, DeployKind, Digest, EnvName, GrantScope, Metadata, ProjectId, PromptContent,
    PromptName, PromptType, Role, Version,
};

/// An immutable version. `C` is its content: plaintext ([`PromptContent`]) where the server
/// works with it, [`StoredContent`] where the store keeps it ([`StoredVersion`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord<C = PromptContent> {
    /// Prompt.
    pub name: PromptName,
    /// Number.
    pub version: Version,
    /// Content digest.
    pub digest: Digest,
    /// Content.
    pub content: C,
    /// Commit message.
    pub commit_message: Option<String>,
    /// Metadata.
    pub metadata: Metadata,
    /// Previous version (lineage).
    pub parent: Option<Version>,
    /// Principal.
    pub created_by: String,
    /// Time of creation.
    pub created_at: DateTime<Utc>,
    /// The DSSE envelope (JSON, exactly as signed) over the version's in-toto statement;
    /// `None` for a version written before signing existed.
    pub signature: Option<String>,
    /// The `seq` of the event that recorded this version in its project's log (ledger leaf
    /// `seq - 1`). Assigned by the store on insert (the event appended next in the same
    /// transaction); ignored on write, `None` for versions older than the ledger.
    pub ledger_seq: Option<i64>,
}

impl<C> VersionRecord<C> {
    /// The same version with other content (sealed for the store, or opened after it).
    pub fn with_content<D>(self, content: D) -> VersionRecord<D> {
        VersionRecord {
            name: self.name,
            version: self.version,
            digest: self.digest,
            content,
            commit_message: self.commit_message,
            metadata: self.metadata,
            parent: self.parent,
            created_by: self.created_by,
            created_at: self.created_at,
            signature: self.signature,
            ledger_seq: self.ledger_seq,
        }
    }
}

/// A version as the store keeps it.
pub type StoredVersion = VersionRecord<StoredContent>;

/// A version's content as stored: sealed (encrypted at rest by the server), plaintext in
/// rows written before encryption at rest (read as they are), or gone (pruned).
#[derive(Debug, Clone, PartialEq)]
pub enum StoredContent {
    /// Plaintext (a row older than encryption at rest).
    Plain(PromptContent),
    /// Encrypted; only the type stays readable.
    Sealed {
        /// Text or chat (a plaintext column: the type rule needs it without the key).
        prompt_type: PromptType,
        /// The ciphertext and its wrapped data key.
        sealed: SealedContent,
    },
    /// Pruned by the lifecycle rules: the ciphertext and wrapped data key (or the plaintext)
    /// were dropped; the row is a tombstone (name, digest, signature, ledger position).
    Pruned {
        /// Text or chat.
        prompt_type: PromptType,
        /// When it was pruned.
        pruned_at: DateTime<Utc>,
    },
}

impl StoredContent {
    /// Text or chat.
    pub fn prompt_type(&self) -> PromptType {
        match self {
            StoredContent::Plain(c) => c.prompt_type(),
            StoredContent::Sealed { prompt_type, .. }
            | StoredContent::Pruned { prompt_type, .. } => *prompt_type,
        }
    }

    /// When the content was pruned, for a tombstone.
    pub fn pruned_at(&self) -> Option<DateTime<Utc>> {
        match self {
            StoredContent::Pruned { pruned_at, .. } => Some(*pruned_at),
            _ => None,
        }
    }
}

/// A version without its content: what the lifecycle rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStub {
    /// Prompt.
    pub name: PromptName,
    /// Number.
    pub version: Version,
    /// Content digest.
    pub digest: Digest,
    /// Time of creation.
    pub created_at: DateTime<Utc>,
    /// When its content was pruned, if it was.
    pub pruned_at: Option<DateTime<Utc>>,
}

/// A project's lifecycle rules as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRecord {
    /// The rules.
    pub rules: promptreg_core::retention::Rules,
    /// Who set them.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// One new wrapping (or first sealing) of a stored version's content, written by
/// [`crate::Store::reseal`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reseal {
    /// Tenant.
    pub project: ProjectId,
    /// Prompt.
    pub name: PromptName,
    /// Version.
    pub version: Version,
    /// The KEK id the row is wrapped by now; `None` for a plaintext row being sealed.
    pub from_kek: Option<String>,
    /// The new sealing (for a rewrap: the same nonce and ciphertext, a new wrapped key).
    pub sealed: SealedContent,
}

/// Where a walk over every version stands: the last (project, prompt, version) read.
pub type VersionKey = (ProjectId, PromptName, Version);

/// Outcome of a publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The new version, or the latest one when its content was the same.
    pub version: VersionRecord,
    /// Whether a version was created.
    pub created: bool,
}

/// Version list filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionFilter {
    /// Only versions with this tag.
    pub tag: Option<String>,
    /// Only versions that serve this agent type (listed, or no agent types given).
    pub agent_type: Option<String>,
}

/// Prompt list filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptFilter {
    /// Only names starting with this.
    pub prefix: Option<String>,
    /// Only prompts whose latest version has this tag.
    pub tag: Option<String>,
}

/// Filters of the counted prompt list (Langfuse's `GET /api/public/v2/prompts`), all exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptQuery {
    /// Only the prompt with this name.
    pub name: Option<PromptName>,
    /// Only prompts with a version live in this environment.
    pub env: Option<EnvName>,
    /// Only prompts whose latest version has this tag.
    pub tag: Option<String>,
}

/// Page-number paging: `limit` rows after skipping `offset`, in name order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPage {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u32,
}

/// One page of a counted prompt list.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptPage<C = PromptContent> {
    /// The page's prompts, by name.
    pub prompts: Vec<PromptRecord<C>>,
    /// How many prompts match the filters (on every page).
    pub total: u64,
}

/// Keyset paging: up to `limit` rows after the key `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<K> {
    /// How many rows (the server asks one more to know whether a next page exists).
    pub limit: u32,
    /// Exclusive start key.
    pub after: Option<K>,
}

impl<K> PageRequest<K> {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }
}

/// A prompt and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRecord<C = PromptContent> {
    /// Name.
    pub name: PromptName,
    /// Its newest version.
    pub latest: VersionRecord<C>,
    /// Environments it is deployed to, by environment name.
    pub deployed: Vec<(EnvName, Version)>,
}

/// An environment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnvironment {
    /// Name.
    pub name: EnvName,
    /// Protected.
    pub protected: bool,
    /// Free text.
    pub description: Option<String>,
    /// Principal.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// How many approvals a change request into it needs (when it is protected).
    pub approvals_required: u32,
}

/// A stored environment.
pub type Environment = NewEnvironment;

/// One recorded pointer move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    /// Environment.
    pub env: EnvName,
    /// Prompt.
    pub name: PromptName,
    /// Per-(env, prompt) counter from 1.
    pub seq: i64,
    /// Live before.
    pub from_version: Option<Version>,
    /// Live after.
    pub to_version: Version,
    /// Digest of `to_version`.
    pub digest: Digest,
    /// Principal.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Deploy or rollback.
    pub kind: DeployKind,
    /// The DSSE envelope (JSON, exactly as signed) over the move's in-toto statement; `None`
    /// for a record written before signing existed.
    pub signature: Option<String>,
    /// The `seq` of the event that recorded this move (see [`VersionRecord::ledger_seq`]).
    pub ledger_seq: Option<i64>,
    /// Under which authority a move into a protected environment was made.
    pub approval: Option<promptreg_core::change::Approval>,
}

impl DeploymentRecord {
    /// The change event that announces this record (what every backend appends and notifies).
    pub fn event(&self, project: &ProjectId) -> ChangeEvent {
        ChangeEvent::PointerMoved {
            project: project.clone(),
            env: self.env.clone(),
            name: self.name.clone(),
            seq: self.seq,
            from_version: self.from_version,
            to_version: self.to_version,
            digest: self.digest.clone(),
            kind: self.kind,
            signature: self
                .signature
                .as_deref()
                .map(|s| Digest::of_bytes(s.as_bytes())),
            approval: self.approval.clone(),
        }
    }
}

/// A catalog line: one prompt live in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRecord {
    /// Prompt.
    pub name: PromptName,
    /// Live version.
    pub version: Version,
    /// Its digest.
    pub digest: Digest,
    /// When the pointer last moved.
    pub deployed_at: DateTime<Utc>,
}

/// A live pointer without its version: what a large registry's start-up indexes before it
/// serves (the version is read, opened and checked when first needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePointer {
    /// Tenant.
    pub project: ProjectId,
    /// Environment.
    pub env: EnvName,
    /// Prompt.
    pub name: PromptName,
    /// The live version.
    pub version: Version,
    /// The seq of the pointer record that made it live.
    pub seq: i64,
}

/// A live pointer with its version, for the resolve index.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedVersion<C = PromptContent> {
    /// Tenant.
    pub project: ProjectId,
    /// Environment.
    pub env: EnvName,
    /// The live version.
    pub version: VersionRecord<C>,
    /// The seq of the pointer record that made it live (index updates never go backwards).
    pub seq: i64,
}

/// How a token authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: Basic <public_key:secret_key>` (Langfuse-style key pair).
    KeyPair,
}

impl TokenKind {
    /// Storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Bearer => "bearer",
            TokenKind::KeyPair => "key_pair",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bearer" => Some(TokenKind::Bearer),
            "key_pair" => Some(TokenKind::KeyPair),
            _ => None,
        }
    }
}

/// A stored token: the secret only as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Id.
    pub id: String,
    /// Tenant.
    pub project: ProjectId,
    /// Label.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Bearer or key pair.
    pub kind: TokenKind,
    /// Public key of a key pair.
    pub public_key: Option<String>,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_hash: String,
    /// Principal.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Where its deploy and rollback grants reach (environments, prompt prefixes).
    pub scope: GrantScope,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it last authenticated a request, as flushed by the replicas (the latest of them).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A project (tenant): every other record belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Id (same rule as an environment name).
    pub id: ProjectId,
    /// What it is for.
    pub description: Option<String>,
    /// Principal that created it (`migration` for the default project).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A public key the server signs with (or signed with, once retired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key's id (what DSSE signatures name).
    pub key_id: String,
    /// `ed25519`.
    pub algorithm: String,
    /// Base64 of the raw public key.
    pub public_key: String,
    /// When it was first used.
    pub created_at: DateTime<Utc>,
    /// When a newer key replaced it.
    pub retired_at: Option<DateTime<Utc>>,
}

/// One entry of a project's event log as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the log.
    pub seq: i64,
    /// The event's kind (`version_created`, `pointer_moved`, ...).
    pub kind: String,
    /// The stored body: the record's RFC 8785 canonical JSON.
    pub body: String,
}

/// What a project holds, counted (an import goes only into a project without versions,
/// deployments, rollouts, tokens, webhooks or changes other than created environments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectCounts {
    /// Versions.
    pub versions: i64,
    /// Deployment records.
    pub deployments: i64,
    /// Rollouts.
    pub rollouts: i64,
    /// Tokens and key pairs, revoked ones included.
    pub tokens: i64,
    /// Webhooks.
    pub webhooks: i64,
    /// Environments.
    pub environments: i64,
    /// Log entries of any other kind than `environment_created`.
    pub other_events: i64,
}
