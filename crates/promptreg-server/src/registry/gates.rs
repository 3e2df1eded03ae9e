//! Validation results and promotion gates.
//!
//! Attaching a result and setting an environment's gates are changes like any other (one
//! unit of work, one event). [`Registry::check_gates`] is what every move of a pointer into an
//! environment that is not a rollback runs inside its own transaction: it reads the
//! environment's gates, the version's validation results and the predecessor's pointer
//! history through the [`StoreTx`] (which holds the project's writer lock, so a result
//! attached concurrently is either seen or waits for the deploy to commit), gathers the
//! [`Facts`] and leaves the decision to the pure `promptreg_core::gates::evaluate`.

use std::collections::BTreeMap;

use promptreg_core::gates::{
    self, predecessor_facts, Facts, GateSpec, ValidationFact, VersionFacts,
};
use promptreg_core::validation;
use promptreg_core::{ChangeEvent, EnvName, PromptName, Version};
use promptreg_store::{
    GatesRecord, PageRequest, StoreTx, ValidatedPrompt, ValidatedQuery, ValidationRecord,
    VersionRecord,
};

use super::pointers::environment;
use super::{Action, Caller, Known, Registry, Resource, ServiceError, ServiceResult};

/// A validation result to attach.
#[derive(Debug, Clone)]
pub struct NewValidation {
    /// The suite.
    pub suite: String,
    /// Whether it passed.
    pub passed: bool,
    /// Metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Details (a string or JSON).
    pub details: Option<serde_json::Value>,
    /// The tool's name.
    pub tool_name: String,
    /// The tool's version.
    pub tool_version: String,
}

impl Registry {
    /// Attaches a validation result to a version (never changed afterwards).
    pub async fn attach_validation(
        &self,
        caller: &Caller,
        name: PromptName,
        version: Version,
        input: NewValidation,
    ) -> ServiceResult<ValidationRecord> {
        self.check(caller, Action::AttachValidation, Resource::Prompt(&name))?;
        validation::check_suite(&input.suite).map_err(ServiceError::invalid)?;
        validation::check_metrics(&input.metrics).map_err(ServiceError::invalid)?;
        if let Some(d) = &input.details {
            validation::check_details(d).map_err(ServiceError::invalid)?;
        }
        validation::check_tool(&input.tool_name, &input.tool_version)
            .map_err(ServiceError::invalid)?;
        let mut tx = self.store.begin(&caller.project).await?;
        let Some(target) = tx.get_version(&name, version).await? else {
            return Err(match tx.latest_version(&name).await? {
                Some(_) => {
                    ServiceError::not_found(format!("prompt '{name}' has no version {version}"))
                }
                None => ServiceError::not_found(format!("prompt '{name}' not found")),
            });
        };
        let mut record = ValidationRecord {
            id: 0,
            name: name.clone(),
            version,
            digest: target.digest.clone(),
            suite: input.suite,
            passed: input.passed,
            metrics: input.metrics,
            details: input.details,
            tool_name: input.tool_name,
            tool_version: input.tool_version,
            attached_by: caller.principal.actor(),
            attached_at: self.now(),
        };
        record.id = tx.insert_validation(&record).await?;
        let change = ChangeEvent::ValidationAttached {
            project: caller.project.clone(),
            name,
            version,
            digest: record.digest.clone(),
            id: record.id,
            suite: record.suite.clone(),
            passed: record.passed,
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Nothing).await;
        Ok(record)
    }

    /// Sets an environment's promotion path and gates. A spec that does not compile, names
    /// an environment that does not exist, or closes a loop of predecessors is refused.
    pub async fn set_gates(
        &self,
        caller: &Caller,
        env: EnvName,
        spec: GateSpec,
    ) -> ServiceResult<GatesRecord> {
        self.check(
            caller,
            Action::ConfigureEnvironment,
            Resource::Project(&caller.project),
        )?;
        let mut tx = self.store.begin(&caller.project).await?;
        environment(&mut *tx, &env).await?;
        spec.compile(&env).map_err(|e| bad(e.to_string()))?;
        if let Some(pred) = &spec.required_predecessor {
            if tx.get_environment(pred).await?.is_none() {
                return Err(bad(format!(
                    "required_predecessor: environment '{pred}' does not exist"
                )));
            }
            // The other environments' saved predecessors, read under the writer lock.
            let mut saved = BTreeMap::new();
            for e in tx.environments().await? {
                if let Some(g) = tx.environment_gates(&e.name).await? {
                    if let Some(p) = g.spec.required_predecessor {
                        saved.insert(e.name, p);
                    }
                }
            }
            if let Some(cycle) = gates::find_cycle(&env, pred, |e| saved.get(e).cloned()) {
                let path: Vec<&str> = cycle.iter().map(EnvName::as_str).collect();
                return Err(bad(format!(
                    "required_predecessor: '{pred}' would make a loop of predecessors ({})",
                    path.join(" <- ")
                )));
            }
        }
        let record = GatesRecord {
            env: env.clone(),
            spec,
            updated_by: caller.principal.actor(),
            updated_at: self.now(),
        };
        tx.set_environment_gates(&record).await?;
        let change = ChangeEvent::EnvironmentGatesSet {
            project: caller.project.clone(),
            env,
            required_predecessor: record.spec.required_predecessor.clone(),
            gates: record.spec.gates.iter().map(|g| g.name.clone()).collect(),
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Nothing).await;
        Ok(record)
    }

    /// An environment's gates (the empty spec when none were set).
    pub async fn gates(&self, caller: &Caller, env: &EnvName) -> ServiceResult<GatesRecord> {
        self.check(caller, Action::Read, Resource::Project(&caller.project))?;
        let environment = self.store.get_environment(&caller.project, env).await?;
        Ok(self
            .store
            .environment_gates(&caller.project, env)
            .await?
            .unwrap_or(GatesRecord {
                env: env.clone(),
                spec: GateSpec::default(),
                updated_by: environment.created_by,
                updated_at: environment.created_at,
            }))
    }

    /// A version's validation results, oldest first (404 for an unknown version).
    pub async fn validations(
        &self,
        caller: &Caller,
        name: &PromptName,
        version: Version,
    ) -> ServiceResult<Vec<ValidationRecord>> {
        self.check(caller, Action::Read, Resource::Project(&caller.project))?;
        self.store
            .get_version(&caller.project, name, version)
            .await?;
        Ok(self
            .store
            .list_validations(&caller.project, name, version)
            .await?)
    }

    /// Prompts with a version validated by a suite (see [`promptreg_store::Store::validated_prompts`]).
    pub async fn validated_prompts(
        &self,
        caller: &Caller,
        query: &ValidatedQuery,
        page: &PageRequest<PromptName>,
    ) -> ServiceResult<Vec<ValidatedPrompt>> {
        self.check(caller, Action::Read, Resource::Project(&caller.project))?;
        validation::check_suite(&query.suite).map_err(bad)?;
        if let Some(env) = &query.env {
            self.store.get_environment(&caller.project, env).await?;
        }
        Ok(self
            .store
            .validated_prompts(&caller.project, query, page)
            .await?)
    }

    /// Inside a move's transaction: runs `env`'s required-predecessor rule and gates for
    /// `target`. Every pointer move into an environment that is not a rollback calls this
    /// (deploy, Langfuse labels, a rollout's start and its promotion); rollbacks never do.
    /// `applying` is the change request the move applies, if any: its approvals are the
    /// `approvals` fact (0 otherwise).
    pub(crate) async fn check_gates(
        &self,
        tx: &mut dyn StoreTx,
        env: &EnvName,
        target: &VersionRecord,
        applying: Option<&str>,
    ) -> ServiceResult<()> {
        let Some(record) = tx.environment_gates(env).await? else {
            return Ok(());
        };
        if record.spec.is_empty() {
            return Ok(());
        }
        let approvals = match applying {
            Some(id) => tx
                .lock_change_request(id)
                .await?
                .map_or(0, |request| request.approvals()),
            None => 0,
        };
        let now = self.now();
        let mut validations = BTreeMap::new();
        // Oldest first: a later result of a suite replaces an earlier one.
        for v in tx.validations(&target.name, target.version).await? {
            validations.insert(
                v.suite,
                ValidationFact {
                    passed: v.passed,
                    metrics: v.metrics,
                },
            );
        }
        let predecessor = match &record.spec.required_predecessor {
            None => None,
            Some(pred) => {
                let history: Vec<_> = tx
                    .pointer_history(pred, &target.name)
                    .await?
                    .into_iter()
                    .map(|r| (r.at, r.to_version))
                    .collect();
                Some(predecessor_facts(
                    pred.clone(),
                    &history,
                    target.version,
                    now,
                ))
            }
        };
        let facts = Facts {
            version: VersionFacts {
                number: target.version,
                digest: target.digest.to_string(),
                metadata: target.metadata.clone(),
                created_by: target.created_by.clone(),
                created_at: target.created_at,
            },
            validations,
            approvals,
            predecessor,
            now,
        };
        gates::evaluate(env, &record.spec, &facts).map_err(|failure| ServiceError::Refused {
            code: failure.code(),
            message: failure.message().to_owned(),
            details: serde_json::to_value(&failure).unwrap_or_default(),
        })
    }
}

/// 400 `invalid_request` naming the problem.
fn bad(message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        code: "invalid_request",
        message: message.into(),
    }
}
