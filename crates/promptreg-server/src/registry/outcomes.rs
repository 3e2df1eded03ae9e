//! Outcomes in the service layer: reporting a batch (policy `ReportOutcomes`, then the
//! aggregator with this replica's resolve index for rollout arms and steps) and reading a
//! version's figures (policy `Read`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use promptreg_api::OutcomeReport;
use promptreg_core::analysis::ArmWindow;
use promptreg_core::{EnvName, PromptName, Version};

use super::{controller, Action, Caller, Registry, Resource, ServiceError, ServiceResult};
use crate::outcomes::Outcomes;

impl Registry {
    /// Takes outcomes from `aggregator`, which also judges this registry's rollouts.
    pub fn with_aggregator(mut self, aggregator: Arc<Outcomes>) -> Self {
        self.outcomes = aggregator.clone() as Arc<dyn controller::OutcomeSource>;
        self.aggregator = Some(aggregator);
        self
    }

    fn aggregator(&self) -> ServiceResult<&Outcomes> {
        self.aggregator
            .as_deref()
            .ok_or_else(|| ServiceError::Unavailable("this server takes no outcomes".into()))
    }

    /// Checks and counts a batch of outcome events in the caller's project; each event is
    /// accepted or refused on its own.
    pub async fn report_outcomes(
        &self,
        caller: &Caller,
        events: Vec<serde_json::Value>,
    ) -> ServiceResult<OutcomeReport> {
        self.check(
            caller,
            Action::ReportOutcomes,
            Resource::Project(&caller.project),
        )?;
        self.aggregator()?
            .ingest(&caller.project, events, self.now(), &self.index)
            .await
    }

    /// A version's outcomes in an environment since a time, over every replica (404 when
    /// the version or the environment does not exist).
    pub async fn version_outcomes(
        &self,
        caller: &Caller,
        env: &EnvName,
        name: &PromptName,
        version: Version,
        since: DateTime<Utc>,
    ) -> ServiceResult<ArmWindow> {
        let reads = self.reads(caller)?;
        reads.version(name, version).await?;
        reads.environment(env).await?;
        self.aggregator()?
            .version_window(&caller.project, env, name, version, since)
            .await
    }
}
