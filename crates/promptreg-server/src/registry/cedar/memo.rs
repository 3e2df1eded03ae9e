//! Decisions remembered by every input they depend on, so that the hot path (resolve and
//! render ask the policy on every request) evaluates Cedar once per token, action and
//! resource rather than once per request. The memo belongs to one policy set: a reload
//! starts an empty one. It is bounded: when full it is emptied and fills again.

use std::collections::HashMap;

use parking_lot::RwLock;
use promptreg_core::{GrantScope, Role};

use super::super::policy::{Action, Decision, Resource};
use crate::auth::Principal;

/// Most decisions kept (each a few hundred bytes).
const CAPACITY: usize = 65_536;

/// Everything a decision depends on: the principal's id, role, project, server flag and
/// grant scope, the action, and the resource with its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    id: String,
    role: Role,
    project: String,
    server_admin: bool,
    scope: GrantScope,
    action: Action,
    resource: ResourceKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ResourceKey {
    Project(String),
    Prompt(String),
    Version {
        name: String,
        tags: Vec<String>,
    },
    Pointer {
        env: String,
        protected: bool,
        name: String,
    },
}

impl Key {
    pub(super) fn new(p: &Principal, action: Action, resource: Resource<'_>) -> Self {
        let resource = match resource {
            Resource::Project(project) => ResourceKey::Project(project.as_str().to_owned()),
            Resource::Prompt(name) => ResourceKey::Prompt(name.as_str().to_owned()),
            Resource::Version { name, tags } => ResourceKey::Version {
                name: name.as_str().to_owned(),
                tags: tags.to_vec(),
            },
            Resource::Pointer {
                env,
                protected,
                name,
            } => ResourceKey::Pointer {
                env: env.as_str().to_owned(),
                protected,
                name: name.as_str().to_owned(),
            },
        };
        Self {
            id: p.id.clone(),
            role: p.role,
            project: p.project.as_str().to_owned(),
            server_admin: p.server_admin,
            scope: p.scope.clone(),
            action,
            resource,
        }
    }
}

/// The decisions made under one policy set.
#[derive(Default)]
pub(super) struct Memo {
    decisions: RwLock<HashMap<Key, Decision>>,
}

impl Memo {
    pub(super) fn get(&self, key: &Key) -> Option<Decision> {
        self.decisions.read().get(key).cloned()
    }

    pub(super) fn put(&self, key: Key, decision: Decision) {
        let mut decisions = self.decisions.write();
        if decisions.len() >= CAPACITY {
            decisions.clear();
        }
        decisions.insert(key, decision);
    }
}
