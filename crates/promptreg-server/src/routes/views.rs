//! Domain records to wire types.

use promptreg_api::{
    CatalogEntry, DeployedIn, DeploymentView, EnvironmentView, PromptSummary, TokenInfo,
    VersionView,
};
use promptreg_store::{
    CatalogRecord, DeploymentRecord, Environment, PromptRecord, StoredContent, StoredVersion,
    TokenRecord, VersionRecord,
};

/// A version on the wire.
pub fn version(v: VersionRecord, created: Option<bool>) -> VersionView {
    let c = &v.content;
    VersionView {
        digest: v.digest.to_string(),
        prompt_type: c.prompt_type(),
        template: c.body().template().map(str::to_owned),
        messages: c.body().messages().map(<[_]>::to_vec),
        variables: c.variables().map(|s| s.as_value().clone()),
        model: c.model().map(|m| serde_json::Value::Object(m.clone())),
        name: v.name,
        version: v.version,
        commit_message: v.commit_message,
        metadata: v.metadata,
        parent: v.parent,
        created_by: v.created_by,
        created_at: v.created_at,
        created,
        signature: envelope(v.signature.as_deref()),
        ledger_index: ledger_index(v.ledger_seq),
        pruned_at: None,
        validations: None,
    }
}

/// A listed version on the wire: opened, or a pruned version's tombstone (no content,
/// `pruned_at` set).
pub fn listed(v: StoredVersion) -> VersionView {
    let (content, pruned_at) = match v.content.clone() {
        StoredContent::Plain(c) => (Some(c), None),
        other => (None, other.pruned_at()),
    };
    let prompt_type = v.content.prompt_type();
    match content {
        Some(c) => version(v.with_content(c), None),
        None => VersionView {
            digest: v.digest.to_string(),
            prompt_type,
            template: None,
            messages: None,
            variables: None,
            model: None,
            name: v.name,
            version: v.version,
            commit_message: v.commit_message,
            metadata: v.metadata,
            parent: v.parent,
            created_by: v.created_by,
            created_at: v.created_at,
            created: None,
            signature: envelope(v.signature.as_deref()),
            ledger_index: ledger_index(v.ledger_seq),
            pruned_at,
            validations: None,
        },
    }
}

/// A validation result on the wire.
pub fn validation(v: promptreg_store::ValidationRecord) -> promptreg_api::ValidationView {
    promptreg_api::ValidationView {
        id: v.id,
        name: v.name,
        version: v.version,
        digest: v.digest.to_string(),
        suite: v.suite,
        passed: v.passed,
        metrics: v.metrics,
        details: v.details,
        tool: promptreg_api::ToolRef {
            name: v.tool_name,
            version: v.tool_version,
        },
        attached_by: v.attached_by,
        attached_at: v.attached_at,
    }
}

/// A stored DSSE envelope as JSON (stored as canonical JSON text by the service layer).
fn envelope(stored: Option<&str>) -> Option<serde_json::Value> {
    stored.and_then(|s| serde_json::from_str(s).ok())
}

/// The ledger leaf of the event with `seq`.
fn ledger_index(seq: Option<i64>) -> Option<u64> {
    seq.and_then(|s| u64::try_from(s - 1).ok())
}

/// A deployment record on the wire.
pub fn deployment(r: DeploymentRecord, changed: Option<bool>) -> DeploymentView {
    DeploymentView {
        env: r.env.to_string(),
        name: r.name.to_string(),
        seq: r.seq,
        from_version: r.from_version,
        to_version: r.to_version,
        digest: r.digest.to_string(),
        actor: r.actor,
        reason: r.reason,
        at: r.at,
        kind: r.kind,
        changed,
        signature: envelope(r.signature.as_deref()),
        ledger_index: ledger_index(r.ledger_seq),
        change_request: r
            .approval
            .as_ref()
            .and_then(|a| a.change_request().map(str::to_owned)),
        approval: r.approval.map(|a| a.kind().to_owned()),
    }
}

/// An environment on the wire.
pub fn environment(e: Environment) -> EnvironmentView {
    EnvironmentView {
        name: e.name.to_string(),
        protected: e.protected,
        description: e.description,
        created_by: e.created_by,
        created_at: e.created_at,
        approvals_required: e.approvals_required,
    }
}

/// A prompt summary on the wire.
pub fn prompt(p: PromptRecord<StoredContent>) -> PromptSummary {
    PromptSummary {
        latest_version: p.latest.version,
        latest_digest: p.latest.digest.to_string(),
        prompt_type: p.latest.content.prompt_type(),
        tags: p.latest.metadata.tags.clone(),
        updated_at: p.latest.created_at,
        environments: p
            .deployed
            .into_iter()
            .map(|(env, version)| DeployedIn {
                env: env.to_string(),
                version,
            })
            .collect(),
        name: p.name,
        validated: None,
    }
}

/// A catalog line on the wire.
pub fn catalog(c: CatalogRecord) -> CatalogEntry {
    CatalogEntry {
        name: c.name.to_string(),
        version: c.version,
        digest: c.digest.to_string(),
        deployed_at: c.deployed_at,
    }
}

/// A token on the wire, without its secret.
pub fn token(t: TokenRecord) -> TokenInfo {
    TokenInfo {
        grants: grants(&t),
        last_used_at: t.last_used_at,
        id: t.id,
        name: t.name,
        role: t.role,
        kind: t.kind.as_str().into(),
        public_key: t.public_key,
        created_by: t.created_by,
        created_at: t.created_at,
    }
}

/// A token's project, limits and expiry as answered.
pub fn grants(t: &TokenRecord) -> promptreg_api::TokenGrants {
    promptreg_api::TokenGrants {
        project: t.project.to_string(),
        environments: t
            .scope
            .environments
            .as_ref()
            .map(|envs| envs.iter().map(ToString::to_string).collect()),
        prompt_prefixes: t.scope.prompt_prefixes.clone(),
        expires_at: t.expires_at,
    }
}

/// A project as answered.
pub fn project(p: promptreg_store::ProjectRecord) -> promptreg_api::ProjectView {
    promptreg_api::ProjectView {
        id: p.id.to_string(),
        description: p.description,
        created_by: p.created_by,
        created_at: p.created_at,
    }
}
