//! Projects (tenants): server administrators create them; anyone lists what they may see.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use promptreg_api::{CreateProject, Page, ProjectView};

use super::views;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::AppJson;

/// Creates a project with the environments development, staging and production (server
/// administrators only); 409 `already_exists` if it exists.
#[utoipa::path(post, path = "/v1/projects", tag = "projects", request_body = CreateProject,
    responses((status = 201, body = ProjectView), crate::responses::Auth, crate::responses::BadBody, crate::responses::Conflict))]
pub async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateProject>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let project = state
        .registry
        .create_project(&caller, &body.id, body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(views::project(project))))
}

/// The projects the caller may see: all of them for a server administrator, else its own.
#[utoipa::path(get, path = "/v1/projects", tag = "projects",
    responses((status = 200, body = Page<ProjectView>), crate::responses::Auth))]
pub async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Page<ProjectView>>, ApiError> {
    let projects = state.registry.list_projects(&caller).await?;
    Ok(Json(Page {
        items: projects.into_iter().map(views::project).collect(),
        next_cursor: None,
    }))
}
