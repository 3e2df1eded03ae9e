//! Change requests: the two-person rule for protected environments.
//!
//! A deploy into a protected environment is refused (`approval_required`) unless it applies
//! an approved change request or is an admin's break-glass (`pointers`). Here: opening a
//! request, reviewing it (approve or reject, never your own request nor your own version),
//! applying it (the request's row locked, the pointer moved through the same `plan_deploy`
//! as every deploy, both events in one unit of work), and setting an environment's
//! protection and approval count. The rules themselves are `promptreg_core::change`.

use promptreg_core::change::{self, ChangeStatus, Verdict};
use promptreg_core::{ChangeEvent, EnvName, PromptName, Version};
use promptreg_store::{ChangeRequestRecord, ChangeReviewRecord, Environment, StoreTx};

use super::pointers::{environment, pointer, Authority, Moved};
use super::{Action, Caller, Known, Registry, Resource, ServiceError, ServiceResult};

/// The most approvals an environment may require.
pub const MAX_APPROVALS: u32 = 10;

impl Registry {
    /// Opens a change request to deploy `version` of `name` into the protected `env`.
    pub async fn request_change(
        &self,
        caller: &Caller,
        env: EnvName,
        name: PromptName,
        version: Version,
        reason: String,
    ) -> ServiceResult<ChangeRequestRecord> {
        if reason.trim().is_empty() {
            return Err(ServiceError::invalid(
                "reason: a change request needs a reason",
            ));
        }
        let mut tx = self.store.begin(&caller.project).await?;
        let environment = environment(&mut *tx, &env).await?;
        self.check(caller, Action::RequestChange, pointer(&environment, &name))?;
        if !environment.protected {
            return Err(ServiceError::conflict(
                "approval_not_needed",
                format!(
                    "environment '{env}' is not protected: no approval is needed; deploy with \
                     PUT /v1/environments/{env}/prompts/{name}"
                ),
            ));
        }
        let target = self
            .find_version(&mut *tx, &caller.project, &name, version)
            .await?;
        let now = self.now();
        let ttl = chrono::TimeDelta::from_std(self.options.change_request_ttl)
            .unwrap_or(chrono::TimeDelta::MAX);
        let request = ChangeRequestRecord {
            id: uuid::Uuid::now_v7().to_string(),
            env,
            name,
            version,
            digest: target.digest.clone(),
            reason: reason.clone(),
            status: ChangeStatus::Pending,
            requested_by: caller.principal.actor(),
            author: target.created_by.clone(),
            created_at: now,
            expires_at: now.checked_add_signed(ttl).unwrap_or(now),
            applied_at: None,
            applied_by: None,
            rollout: None,
            reviews: Vec::new(),
        };
        tx.insert_change_request(&request).await?;
        let change = ChangeEvent::ChangeRequested {
            project: caller.project.clone(),
            id: request.id.clone(),
            env: request.env.clone(),
            name: request.name.clone(),
            version,
            digest: request.digest.clone(),
        };
        let event = self
            .commit(tx, self.draft(caller, Some(reason), change))
            .await?;
        self.applied(&event, Known::Nothing).await;
        Ok(request)
    }

    /// Approves or rejects a change request.
    pub async fn review_change(
        &self,
        caller: &Caller,
        id: &str,
        verdict: Verdict,
        comment: Option<String>,
    ) -> ServiceResult<ChangeRequestRecord> {
        if verdict == Verdict::Reject && comment.as_deref().is_none_or(|c| c.trim().is_empty()) {
            return Err(ServiceError::invalid(
                "comment: a rejection needs a comment saying why",
            ));
        }
        let mut tx = self.store.begin(&caller.project).await?;
        let mut request = self
            .locked(&mut *tx, caller, Action::ReviewChange, id)
            .await?;
        let environment = environment(&mut *tx, &request.env).await?;
        self.check(
            caller,
            Action::ReviewChange,
            pointer(&environment, &request.name),
        )?;
        let now = self.now();
        let status = request.status.effective(request.expires_at, now);
        if !status.is_open() {
            let what = match verdict {
                Verdict::Approve => "approved",
                Verdict::Reject => "rejected",
            };
            return Err(closed(&request, status, what));
        }
        let me = caller.principal.id.as_str();
        if let Some(why) = change::review_refusal(
            me,
            change::actor_id(&request.requested_by),
            change::actor_id(&request.author),
        ) {
            return Err(ServiceError::Forbidden(format!(
                "change request '{id}': {why} (the two-person rule)"
            )));
        }
        if request.reviews.iter().any(|r| r.reviewer_id == me) {
            return Err(ServiceError::conflict(
                "already_reviewed",
                format!("you have already reviewed change request '{id}'"),
            ));
        }
        let review = ChangeReviewRecord {
            reviewer_id: me.to_owned(),
            reviewer: caller.principal.actor(),
            verdict,
            comment: comment.clone(),
            at: now,
        };
        tx.insert_change_review(&request.id, &review).await?;
        request.reviews.push(review);
        let after =
            change::after_review(verdict, request.approvals(), environment.approvals_required);
        if after != request.status {
            request.status = after;
            tx.update_change_request(&request).await?;
        }
        let change = ChangeEvent::ChangeReviewed {
            project: caller.project.clone(),
            id: request.id.clone(),
            verdict,
            status: request.status,
        };
        let event = self.commit(tx, self.draft(caller, comment, change)).await?;
        self.applied(&event, Known::Nothing).await;
        Ok(request)
    }

    /// Applies an approved change request: deploys its version in one unit of work with the
    /// request marked applied. The request's row is locked first, so concurrent applies take
    /// turns and only the first deploys.
    pub async fn apply_change(
        &self,
        caller: &Caller,
        id: &str,
    ) -> ServiceResult<(ChangeRequestRecord, Moved)> {
        let mut tx = self.store.begin(&caller.project).await?;
        let mut request = self
            .locked(&mut *tx, caller, Action::ApplyChange, id)
            .await?;
        let environment = environment(&mut *tx, &request.env).await?;
        self.check(
            caller,
            Action::ApplyChange,
            pointer(&environment, &request.name),
        )?;
        self.applicable(&request, &environment, "applied")?;
        let target = self
            .find_version(&mut *tx, &caller.project, &request.name, request.version)
            .await?;
        let pending = self
            .plan_deploy(
                &mut *tx,
                caller,
                &environment,
                target,
                Some(request.reason.clone()),
                Authority::ChangeRequest(request.id.clone()),
            )
            .await?;
        let event = self
            .mark_applied(&mut *tx, caller, &mut request, None)
            .await?;
        tx.commit().await?;
        let moved = self.finish_move(pending).await;
        self.applied(&event, Known::Nothing).await;
        Ok((request, moved))
    }

    #[allow(clippy::too_many_arguments)]
    /// Inside a rollout's start: checks that `id` is an approved request for this
    /// environment, prompt and candidate, and marks it applied by `rollout`.
    pub(crate) async fn apply_change_by_rollout(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        environment: &Environment,
        name: &PromptName,
        candidate: Version,
        id: &str,
        rollout: &str,
    ) -> ServiceResult<promptreg_core::EventRecord> {
        let mut request = self.locked(tx, caller, Action::ApplyChange, id).await?;
        if request.env != environment.name || &request.name != name || request.version != candidate
        {
            return Err(ServiceError::conflict(
                "change_request_mismatch",
                format!(
                    "change request '{id}' is for version {} of '{}' in '{}', not for version \
                     {candidate} of '{name}' in '{}'",
                    request.version, request.name, request.env, environment.name
                ),
            ));
        }
        self.check(caller, Action::ApplyChange, pointer(environment, name))?;
        self.applicable(&request, environment, "applied")?;
        self.mark_applied(tx, caller, &mut request, Some(rollout.to_owned()))
            .await
    }

    /// A request read with its row locked. When this project has none by that id, a caller
    /// whose role may not `action` at all is told so (403) before being told 404, so the
    /// answer does not depend on what exists for someone who may not act.
    async fn locked(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        action: Action,
        id: &str,
    ) -> ServiceResult<ChangeRequestRecord> {
        match tx.lock_change_request(id).await? {
            Some(request) => Ok(request),
            None => {
                self.check(caller, action, Resource::Project(&caller.project))?;
                Err(not_found(id))
            }
        }
    }

    /// Refuses a request that is not approved now (pending, rejected, applied, expired, or
    /// short of approvals after the environment's count was raised).
    fn applicable(
        &self,
        request: &ChangeRequestRecord,
        environment: &Environment,
        what: &str,
    ) -> ServiceResult<()> {
        let status = request.status.effective(request.expires_at, self.now());
        let (have, need) = (request.approvals(), environment.approvals_required);
        match status {
            ChangeStatus::Approved if have >= need => Ok(()),
            ChangeStatus::Pending | ChangeStatus::Approved => Err(ServiceError::conflict(
                "change_request_pending",
                format!(
                    "change request '{}' is pending: it has {have} of the {need} approvals \
                     environment '{}' requires, so it cannot be {what} yet",
                    request.id, request.env
                ),
            )),
            closed_status => Err(closed(request, closed_status, what)),
        }
    }

    /// Marks a request applied and appends its `change_applied` event.
    async fn mark_applied(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        request: &mut ChangeRequestRecord,
        rollout: Option<String>,
    ) -> ServiceResult<promptreg_core::EventRecord> {
        request.status = ChangeStatus::Applied;
        request.applied_at = Some(self.now());
        request.applied_by = Some(caller.principal.actor());
        request.rollout = rollout.clone();
        tx.update_change_request(request).await?;
        let change = ChangeEvent::ChangeApplied {
            project: caller.project.clone(),
            id: request.id.clone(),
            rollout,
        };
        Ok(tx
            .append_event(self.draft(caller, Some(request.reason.clone()), change))
            .await?)
    }

    /// Sets an environment's protection and approval count.
    pub async fn update_environment(
        &self,
        caller: &Caller,
        env: EnvName,
        protected: Option<bool>,
        approvals_required: Option<u32>,
    ) -> ServiceResult<Environment> {
        self.check(
            caller,
            Action::ManageEnvironments,
            Resource::Project(&caller.project),
        )?;
        if protected.is_none() && approvals_required.is_none() {
            return Err(ServiceError::invalid(
                "nothing to change: give protected and/or approvals_required",
            ));
        }
        if let Some(n) = approvals_required {
            check_approvals(n)?;
        }
        let mut tx = self.store.begin(&caller.project).await?;
        let mut environment = environment(&mut *tx, &env).await?;
        environment.protected = protected.unwrap_or(environment.protected);
        environment.approvals_required =
            approvals_required.unwrap_or(environment.approvals_required);
        tx.update_environment(&environment).await?;
        let change = ChangeEvent::EnvironmentUpdated {
            project: caller.project.clone(),
            env: env.clone(),
            protected: environment.protected,
            approvals_required: environment.approvals_required,
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Nothing).await;
        Ok(environment)
    }

    /// One change request of the caller's project (404 for any other project's).
    pub async fn change_request(
        &self,
        caller: &Caller,
        id: &str,
    ) -> ServiceResult<(ChangeRequestRecord, Environment)> {
        self.check(caller, Action::Read, Resource::Project(&caller.project))?;
        let request = self
            .store
            .get_change_request(&caller.project, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let environment = self
            .store
            .get_environment(&caller.project, &request.env)
            .await?;
        Ok((request, environment))
    }

    /// Change requests newest first, filtered, each with its environment's approval count.
    pub async fn change_requests(
        &self,
        caller: &Caller,
        mut filter: promptreg_store::ChangeRequestFilter,
        page: &promptreg_store::PageRequest<String>,
    ) -> ServiceResult<Vec<(ChangeRequestRecord, u32)>> {
        self.check(caller, Action::Read, Resource::Project(&caller.project))?;
        filter.now = self.now();
        let found = self
            .store
            .list_change_requests(&caller.project, &filter, page)
            .await?;
        let environments = self.store.list_environments(&caller.project).await?;
        Ok(found
            .into_iter()
            .map(|r| {
                let need = environments
                    .iter()
                    .find(|e| e.name == r.env)
                    .map_or(1, |e| e.approvals_required);
                (r, need)
            })
            .collect())
    }
}

/// Refuses an approval count outside 1..=[`MAX_APPROVALS`].
pub(crate) fn check_approvals(n: u32) -> ServiceResult<()> {
    if (1..=MAX_APPROVALS).contains(&n) {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "approvals_required: must be from 1 to {MAX_APPROVALS}, got {n}"
        )))
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::not_found(format!("change request '{id}' not found"))
}

/// 409 for a request that is over: the code and message name its status.
fn closed(request: &ChangeRequestRecord, status: ChangeStatus, what: &str) -> ServiceError {
    let code = match status {
        ChangeStatus::Rejected => "change_request_rejected",
        ChangeStatus::Applied => "change_request_applied",
        ChangeStatus::Expired => "change_request_expired",
        ChangeStatus::Pending | ChangeStatus::Approved => "change_request_pending",
    };
    ServiceError::conflict(
        code,
        format!(
            "change request '{}' is {} (status '{}'), so it cannot be {what}; open a new one \
             with POST /v1/change-requests",
            request.id,
            status.as_str(),
            status.as_str()
        ),
    )
}

/// 409 `approval_required`: what a deploy into a protected environment without an approved
/// change request gets, naming how to ask for one.
pub(crate) fn approval_required(
    env: &EnvName,
    name: &PromptName,
    version: Version,
) -> ServiceError {
    ServiceError::conflict(
        "approval_required",
        format!(
            "environment '{env}' is protected: deploying version {version} of '{name}' there \
             needs an approved change request. Ask for one with POST /v1/change-requests \
             {{\"env\": \"{env}\", \"prompt\": \"{name}\", \"version\": {version}, \"reason\": \"...\"}} \
             (CLI: promptreg request --env {env} {name} {version} --reason \"...\"), have \
             another person approve it, then apply it with POST /v1/change-requests/{{id}}/apply \
             (promptreg apply <id>). In an emergency an admin may deploy with \
             \"break_glass\": true and a reason."
        ),
    )
}
