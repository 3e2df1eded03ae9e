//! Publishing versions: the native push and Langfuse's create-with-labels, one rule for both.

use promptreg_api::CreateVersion;
use promptreg_core::publish::{self, Latest, PublishPlan};
use promptreg_core::{ChangeEvent, EnvName, PromptName};
use promptreg_store::{Created, StoreTx, VersionRecord};

use super::pointers::Moved;
use super::{Action, Caller, Known, Registry, Resource, ServiceResult};

/// A publish and the label deploys that came with it.
#[derive(Debug, Clone)]
pub struct Published {
    /// The version created, or the latest when the content was unchanged.
    pub created: Created,
    /// Pointer moves made for labels (Langfuse), in label order.
    pub moves: Vec<Moved>,
}

impl Registry {
    /// Publishes a version: validate, digest, number (idempotent on the latest digest).
    pub async fn publish(
        &self,
        caller: &Caller,
        name: PromptName,
        body: CreateVersion,
    ) -> ServiceResult<Created> {
        Ok(self
            .publish_with_labels(caller, name, body, &[])
            .await?
            .created)
    }

    /// Publishes a version and deploys it to each of `labels` (environments) in the same
    /// transaction, so a Langfuse `create_prompt(..., labels=[...])` is one change or none.
    pub async fn publish_with_labels(
        &self,
        caller: &Caller,
        name: PromptName,
        body: CreateVersion,
        labels: &[EnvName],
    ) -> ServiceResult<Published> {
        let tags = body.metadata.as_ref().map_or(&[][..], |m| &m.tags[..]);
        self.check(
            caller,
            Action::CreateVersion,
            Resource::Version { name: &name, tags },
        )?;
        let content = body.content()?;
        content.check_templates(&self.options.render)?;
        let mut tx = self.store.begin(&caller.project).await?;
        let latest = tx.latest_version(&name).await?;
        let digest = content.digest();
        let plan = publish::plan(
            latest.as_ref().map(|v| Latest {
                version: v.version,
                digest: &v.digest,
                prompt_type: v.content.prompt_type(),
            }),
            &digest,
            content.prompt_type(),
        )?;
        let (version, event) = match (plan, latest) {
            (PublishPlan::Create { version, parent }, _) => {
                let mut record = VersionRecord {
                    name: name.clone(),
                    version,
                    digest: digest.clone(),
                    content,
                    commit_message: body.commit_message,
                    metadata: body.metadata.unwrap_or_default(),
                    parent,
                    created_by: caller.principal.actor(),
                    created_at: self.now(),
                    signature: None,
                    ledger_seq: None,
                };
                let signed = self.sign_version(&caller.project, &record);
                let signature_digest = signed.as_ref().map(|s| s.1.clone());
                record.signature = signed.map(|s| s.0);
                tx.insert_version(&self.seal(&caller.project, &record)?)
                    .await?;
                let change = ChangeEvent::VersionCreated {
                    project: caller.project.clone(),
                    name: name.clone(),
                    version,
                    digest,
                    signature: signature_digest,
                };
                let event = tx.append_event(self.draft(caller, None, change)).await?;
                record.ledger_seq = Some(event.seq);
                (record, Some(event))
            }
            (PublishPlan::Unchanged, Some(latest)) => {
                (self.open_or_report(&caller.project, None, latest)?, None)
            }
            (PublishPlan::Unchanged, None) => {
                return Err(super::ServiceError::Internal(
                    "unchanged publish without a latest version".into(),
                ))
            }
        };
        let mut moves = Vec::new();
        for env in labels {
            let planned = self.plan_label(&mut *tx, caller, env, &version).await?;
            moves.push(planned);
        }
        tx.commit().await?;
        tracing::info!(prompt.name = %version.name, prompt.version = %version.version,
            prompt.digest = %version.digest, created = event.is_some(), "version published");
        if let Some(event) = &event {
            self.applied(event, Known::Nothing).await;
        }
        let mut done = Vec::with_capacity(moves.len());
        for m in moves {
            done.push(self.finish_move(m).await);
        }
        Ok(Published {
            created: Created {
                version,
                created: event.is_some(),
            },
            moves: done,
        })
    }

    /// Inside a publish: creates the label's environment if allowed and missing, and plans
    /// the deploy of `version` there.
    async fn plan_label(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        env: &EnvName,
        version: &VersionRecord,
    ) -> ServiceResult<super::pointers::PendingMove> {
        let environment = self.label_environment(tx, caller, env).await?;
        self.plan_deploy(
            tx,
            caller,
            &environment,
            version.clone(),
            None,
            super::pointers::Authority::Direct,
        )
        .await
    }
}
