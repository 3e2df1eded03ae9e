//! Publishing versions: the native push and Langfuse's create-with-labels, one rule for both.

use promptreg_api::CreateVersion;
use promptreg_core::publish::{self, Latest, PublishPlan};
use promptreg_core::{
    ChangeEvent, Digest, EnvName, EventDraft, EventRecord, Metadata, ProjectId, PromptContent,
    PromptName, Version,
};
use promptreg_store::{Created, StoreError, StoreTx, StoredVersion, VersionRecord};

use super::newest::Newest;
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
    ///
    /// A publish without labels is first planned outside the writer lock, from the newest
    /// version as read, and written only if that version is still the newest
    /// ([`Store::publish_if_latest`](promptreg_store::Store::publish_if_latest): one round
    /// trip on PostgreSQL instead of four); when another writer got there first, it is
    /// planned again under the lock. Both paths make the same plan with the same rule.
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
        let mut draft = Draft {
            name,
            digest: content.digest(),
            content,
            commit_message: body.commit_message,
            metadata: body.metadata.unwrap_or_default(),
        };
        if labels.is_empty() {
            match self.publish_unlocked(caller, draft).await? {
                Ok(created) => {
                    return Ok(Published {
                        created,
                        moves: Vec::new(),
                    })
                }
                Err(again) => draft = again,
            }
        }
        let mut tx = self.store.begin(&caller.project).await?;
        let latest = tx.latest_version(&draft.name).await?;
        let (version, event) = match plan(&draft, latest)? {
            Plan::Create { version, parent } => {
                let (mut record, sealed, event) =
                    self.new_version(caller, draft, version, parent)?;
                tx.insert_version(&sealed).await?;
                let event = tx.append_event(event).await?;
                record.ledger_seq = Some(event.seq);
                (record, Some(event))
            }
            Plan::Unchanged(latest) => (self.open_or_report(&caller.project, None, *latest)?, None),
        };
        let mut moves = Vec::new();
        for env in labels {
            let planned = self.plan_label(&mut *tx, caller, env, &version).await?;
            moves.push(planned);
        }
        tx.commit().await?;
        self.published(&caller.project, &version, event.as_ref())
            .await;
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

    /// The optimistic publish: plans from the newest version (hinted or read) without the
    /// lock and writes only if it is still the newest. `Err(draft)` when it was not (nothing
    /// written).
    async fn publish_unlocked(
        &self,
        caller: &Caller,
        draft: Draft,
    ) -> ServiceResult<Result<Created, Draft>> {
        let Numbered {
            after,
            version,
            parent,
        } = match self.plan_unlocked(caller, &draft).await? {
            Ok(numbered) => numbered,
            Err(unchanged) => return Ok(Ok(unchanged)),
        };
        let (mut record, sealed, event) = self.new_version(caller, draft, version, parent)?;
        let Some(event) = self
            .store
            .publish_if_latest(&caller.project, after, &sealed, event)
            .await?
        else {
            return Ok(Err(Draft::from(record)));
        };
        record.ledger_seq = Some(event.seq);
        self.published(&caller.project, &record, Some(&event)).await;
        Ok(Ok(Created {
            version: record,
            created: true,
        }))
    }

    /// Numbers `draft` from the prompt's newest version: as hinted when the hint makes a new
    /// version, else as read (content equal to the newest version is that version, `Err`).
    async fn plan_unlocked(
        &self,
        caller: &Caller,
        draft: &Draft,
    ) -> ServiceResult<Result<Numbered, Created>> {
        let hinted = self.newest.get(&caller.project, &draft.name);
        if let Some(numbered) = hinted.and_then(|h| numbered_after(&h, draft)) {
            return Ok(Ok(numbered));
        }
        // No hint, or one that does not make a new version (unchanged: the answer is the
        // stored version; refused: the error names what is stored): read the newest.
        let latest = match self
            .store
            .latest_version(&caller.project, &draft.name)
            .await
        {
            Ok(latest) => Some(latest),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(latest) = &latest {
            let seen = Newest::new(latest.version, &latest.digest, latest.content.prompt_type());
            self.newest.saw(&caller.project, &latest.name, seen);
        }
        let after = latest.as_ref().map(|v| v.version);
        Ok(match plan(draft, latest)? {
            Plan::Create { version, parent } => Ok(Numbered {
                after,
                version,
                parent,
            }),
            Plan::Unchanged(latest) => Err(Created {
                version: self.open_or_report(&caller.project, None, *latest)?,
                created: false,
            }),
        })
    }

    /// The record of a new version (signed), its stored form (sealed when encryption is on)
    /// and its event.
    fn new_version(
        &self,
        caller: &Caller,
        draft: Draft,
        version: Version,
        parent: Option<Version>,
    ) -> ServiceResult<(VersionRecord, StoredVersion, EventDraft)> {
        let mut record = VersionRecord {
            name: draft.name,
            version,
            digest: draft.digest,
            content: draft.content,
            commit_message: draft.commit_message,
            metadata: draft.metadata,
            parent,
            created_by: caller.principal.actor(),
            created_at: self.now(),
            signature: None,
            ledger_seq: None,
        };
        let signed = self.sign_version(&caller.project, &record);
        let signature_digest = signed.as_ref().map(|s| s.1.clone());
        record.signature = signed.map(|s| s.0);
        let sealed = self.seal(&caller.project, &record)?;
        let change = ChangeEvent::VersionCreated {
            project: caller.project.clone(),
            name: record.name.clone(),
            version,
            digest: record.digest.clone(),
            signature: signature_digest,
        };
        Ok((record, sealed, self.draft(caller, None, change)))
    }

    /// After the commit: the log line, the prompt's newest version noted and, for a new
    /// version, the event applied here.
    async fn published(
        &self,
        project: &ProjectId,
        version: &VersionRecord,
        event: Option<&EventRecord>,
    ) {
        let newest = Newest::new(
            version.version,
            &version.digest,
            version.content.prompt_type(),
        );
        self.newest.saw(project, &version.name, newest);
        tracing::info!(prompt.name = %version.name, prompt.version = %version.version,
            prompt.digest = %version.digest, created = event.is_some(), "version published");
        if let Some(event) = event {
            self.applied(event, Known::Nothing).await;
        }
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

/// What a publish asks for, before it has a number.
struct Draft {
    name: PromptName,
    digest: Digest,
    content: PromptContent,
    commit_message: Option<String>,
    metadata: Metadata,
}

impl From<VersionRecord> for Draft {
    fn from(record: VersionRecord) -> Self {
        Self {
            name: record.name,
            digest: record.digest,
            content: record.content,
            commit_message: record.commit_message,
            metadata: record.metadata,
        }
    }
}

/// What to do with a draft, given the prompt's newest version.
enum Plan {
    /// A new version with this number.
    Create {
        version: Version,
        parent: Option<Version>,
    },
    /// The content is the newest version's: that version is the answer.
    Unchanged(Box<StoredVersion>),
}

/// A new version's number and parent, and the newest version it follows (which the
/// compare-and-set checks).
struct Numbered {
    after: Option<Version>,
    version: Version,
    parent: Option<Version>,
}

/// Core's publish rule applied to `draft` after the hinted newest version, when it makes a
/// new version.
fn numbered_after(hint: &Newest, draft: &Draft) -> Option<Numbered> {
    let latest = Latest {
        version: hint.version,
        digest: &hint.digest,
        prompt_type: hint.prompt_type,
    };
    match publish::plan(Some(latest), &draft.digest, draft.content.prompt_type()) {
        Ok(PublishPlan::Create { version, parent }) => Some(Numbered {
            after: Some(hint.version),
            version,
            parent,
        }),
        _ => None,
    }
}

/// Core's publish rule (numbering, idempotency on the newest digest, a prompt's type cannot
/// change) applied to `draft`.
fn plan(draft: &Draft, latest: Option<StoredVersion>) -> ServiceResult<Plan> {
    let plan = publish::plan(
        latest.as_ref().map(|v| Latest {
            version: v.version,
            digest: &v.digest,
            prompt_type: v.content.prompt_type(),
        }),
        &draft.digest,
        draft.content.prompt_type(),
    )?;
    match (plan, latest) {
        (PublishPlan::Create { version, parent }, _) => Ok(Plan::Create { version, parent }),
        (PublishPlan::Unchanged, Some(latest)) => Ok(Plan::Unchanged(Box::new(latest))),
        (PublishPlan::Unchanged, None) => Err(super::ServiceError::Internal(
            "unchanged publish without a latest version".into(),
        )),
    }
}
