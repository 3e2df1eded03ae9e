//! A decision's inputs as Cedar sees them: the principal as a `Token` entity (a member of its
//! `Role`), the action as `Action::"<name>"`, the resource as a `Project`, `Environment` or
//! `Prompt` entity, and the context (`in_grant_scope`, and the prompt whose pointer moves).

use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
    Schema,
};
use promptreg_core::{ProjectId, PromptName, Role};

use super::super::policy::{Action, Resource};
use crate::auth::Principal;

/// The entity type names, parsed once.
pub(super) struct Types {
    project: EntityTypeName,
    role: EntityTypeName,
    token: EntityTypeName,
    environment: EntityTypeName,
    prompt: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    pub(super) fn new() -> Self {
        let name = |n: &str| {
            // Fixed identifiers; a typo is caught by every test that asks the policy.
            #[allow(clippy::expect_used)]
            EntityTypeName::from_str(n).expect("a valid Cedar type name")
        };
        Self {
            project: name("Project"),
            role: name("Role"),
            token: name("Token"),
            environment: name("Environment"),
            prompt: name("Prompt"),
            action: name("Action"),
        }
    }

    fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }
}

/// The roles, least first; each is a member of the one before it in Cedar.
const ROLES: [Role; 5] = [
    Role::Reader,
    Role::Author,
    Role::Reviewer,
    Role::Deployer,
    Role::Admin,
];

type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// The request and the entities it refers to.
pub(super) fn build(
    t: &Types,
    schema: &Schema,
    principal: &Principal,
    action: Action,
    resource: Resource<'_>,
) -> Result<(Request, Entities), BuildError> {
    let mut entities = roles(t)?;
    let project = |p: &ProjectId| Types::uid(&t.project, p.as_str());
    // Resources other than a project are in the caller's project (see `Resource`).
    let home = project(&principal.project);
    entities.push(Entity::new_no_attrs(home.clone(), Default::default()));
    entities.push(token(t, principal, &home)?);
    let mut context = vec![(
        "in_grant_scope".to_owned(),
        RestrictedExpression::new_bool(resource.in_scope(&principal.scope)),
    )];
    let resource_uid = match resource {
        Resource::Project(p) => {
            let uid = project(p);
            if uid != home {
                entities.push(Entity::new_no_attrs(uid.clone(), Default::default()));
            }
            uid
        }
        Resource::Prompt(name) => prompt(t, &mut entities, &home, name, &[])?,
        Resource::Version { name, tags } => prompt(t, &mut entities, &home, name, tags)?,
        Resource::Pointer {
            env,
            protected,
            name,
        } => {
            let prompt = prompt(t, &mut entities, &home, name, &[])?;
            context.push((
                "prompt".to_owned(),
                RestrictedExpression::new_entity_uid(prompt),
            ));
            let uid = Types::uid(&t.environment, env.as_str());
            let attrs = HashMap::from([
                ("name".to_owned(), string(env.as_str())),
                (
                    "project".to_owned(),
                    RestrictedExpression::new_entity_uid(home.clone()),
                ),
                (
                    "protected".to_owned(),
                    RestrictedExpression::new_bool(protected),
                ),
            ]);
            entities.push(Entity::new(uid.clone(), attrs, Default::default())?);
            uid
        }
    };
    let request = Request::new(
        Types::uid(&t.token, &principal.id),
        Types::uid(&t.action, action.cedar_name()),
        resource_uid,
        Context::from_pairs(context)?,
        Some(schema),
    )?;
    Ok((request, Entities::from_entities(entities, Some(schema))?))
}

/// The five roles, each a member of the one below it.
fn roles(t: &Types) -> Result<Vec<Entity>, BuildError> {
    let mut out = Vec::with_capacity(ROLES.len() + 4);
    for (i, role) in ROLES.iter().enumerate() {
        let parents = match i.checked_sub(1) {
            Some(below) => [Types::uid(&t.role, ROLES[below].as_str())].into(),
            None => Default::default(),
        };
        out.push(Entity::new_no_attrs(
            Types::uid(&t.role, role.as_str()),
            parents,
        ));
    }
    Ok(out)
}

fn token(t: &Types, p: &Principal, home: &EntityUid) -> Result<Entity, BuildError> {
    let set = |items: &[String]| RestrictedExpression::new_set(items.iter().map(|s| string(s)));
    let mut scope = Vec::new();
    if let Some(envs) = &p.scope.environments {
        let names: Vec<String> = envs.iter().map(|e| e.as_str().to_owned()).collect();
        scope.push(("environments".to_owned(), set(&names)));
    }
    if let Some(prefixes) = &p.scope.prompt_prefixes {
        scope.push(("prompt_prefixes".to_owned(), set(prefixes)));
    }
    let attrs = HashMap::from([
        ("role".to_owned(), string(p.role.as_str())),
        (
            "project".to_owned(),
            RestrictedExpression::new_entity_uid(home.clone()),
        ),
        (
            "server_admin".to_owned(),
            RestrictedExpression::new_bool(p.server_admin),
        ),
        ("scope".to_owned(), RestrictedExpression::new_record(scope)?),
    ]);
    Ok(Entity::new(
        Types::uid(&t.token, &p.id),
        attrs,
        [Types::uid(&t.role, p.role.as_str())].into(),
    )?)
}

fn prompt(
    t: &Types,
    entities: &mut Vec<Entity>,
    home: &EntityUid,
    name: &PromptName,
    tags: &[String],
) -> Result<EntityUid, BuildError> {
    let uid = Types::uid(&t.prompt, name.as_str());
    let attrs = HashMap::from([
        ("name".to_owned(), string(name.as_str())),
        (
            "project".to_owned(),
            RestrictedExpression::new_entity_uid(home.clone()),
        ),
        (
            "tags".to_owned(),
            RestrictedExpression::new_set(tags.iter().map(|s| string(s))),
        ),
    ]);
    entities.push(Entity::new(uid.clone(), attrs, Default::default())?);
    Ok(uid)
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}
