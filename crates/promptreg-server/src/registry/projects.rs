//! Projects (tenants): created by server administrators, each starting with the environments
//! `development`, `staging` and `production`, recorded in its own log after its
//! `project_created` event. Every other workflow acts in the caller's project only.

use promptreg_core::{ChangeEvent, EnvName, ProjectId};
use promptreg_store::{Environment, ProjectRecord};

use super::{Action, Caller, Known, Registry, Resource, ServiceError, ServiceResult};

/// Longest project description.
const MAX_DESCRIPTION: usize = 1_000;

/// The environments every project starts with (as Langfuse's labels do).
pub(crate) const FIRST_ENVIRONMENTS: [&str; 3] = ["development", "staging", "production"];

impl Registry {
    /// Creates a project with its first environments, in one unit of work in the new
    /// project's log: `project_created`, then one `environment_created` each.
    pub async fn create_project(
        &self,
        caller: &Caller,
        id: &str,
        description: Option<String>,
    ) -> ServiceResult<ProjectRecord> {
        let id = ProjectId::parse(id).map_err(|e| ServiceError::Invalid {
            code: "invalid_request",
            message: format!("id: {e}"),
        })?;
        self.check(caller, Action::ManageProjects, Resource::Project(&id))?;
        if let Some(d) = &description {
            if d.chars().count() > MAX_DESCRIPTION || d.chars().any(|c| c.is_control() && c != '\n')
            {
                return Err(ServiceError::Invalid {
                    code: "invalid_request",
                    message: format!(
                        "description: at most {MAX_DESCRIPTION} characters, no control characters"
                    ),
                });
            }
        }
        let record = ProjectRecord {
            id: id.clone(),
            description: description.clone(),
            created_by: caller.principal.actor(),
            created_at: self.now(),
        };
        let mut tx = self.store.begin(&id).await?;
        tx.insert_project(&record).await?;
        let mut events = vec![
            tx.append_event(self.draft(
                caller,
                None,
                ChangeEvent::ProjectCreated {
                    project: id.clone(),
                    description,
                },
            ))
            .await?,
        ];
        for name in FIRST_ENVIRONMENTS {
            let env = EnvName::parse(name)?;
            tx.insert_environment(&Environment {
                name: env.clone(),
                protected: false,
                approvals_required: 1,
                description: None,
                created_by: caller.principal.actor(),
                created_at: record.created_at,
            })
            .await?;
            let change = ChangeEvent::EnvironmentCreated {
                project: id.clone(),
                env,
            };
            events.push(tx.append_event(self.draft(caller, None, change)).await?);
        }
        tx.commit().await?;
        for event in &events {
            self.applied(event, Known::Nothing).await;
        }
        Ok(record)
    }

    /// The projects a caller may see: every one for a server administrator, else its own.
    pub async fn list_projects(&self, caller: &Caller) -> ServiceResult<Vec<ProjectRecord>> {
        self.check(caller, Action::Read, Resource::Project(&caller.project))?;
        let all = self.store.list_projects().await?;
        if caller.principal.server_admin {
            return Ok(all);
        }
        Ok(all.into_iter().filter(|p| p.id == caller.project).collect())
    }
}
