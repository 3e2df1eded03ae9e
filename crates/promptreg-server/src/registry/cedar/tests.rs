//! The default policies against the permission table of docs/permissions.md, cell by cell;
//! policy files that do not parse or validate; decisions naming their policies.

use promptreg_core::{EnvName, GrantScope, ProjectId, PromptName, Role};

use super::*;

const PERMISSIONS_MD: &str = include_str!("../../../../../docs/permissions.md");

/// The table's columns: the five roles, then a server administrator (an admin).
const COLUMNS: [(Role, bool); 6] = [
    (Role::Reader, false),
    (Role::Author, false),
    (Role::Reviewer, false),
    (Role::Deployer, false),
    (Role::Admin, false),
    (Role::Admin, true),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Yes,
    No,
    InScope,
}

/// The rows between the table's markers: action name → one cell per column.
fn table() -> Vec<(String, Vec<Cell>)> {
    let start = PERMISSIONS_MD
        .find("<!-- permission-table -->")
        .unwrap_or_else(|| panic!("docs/permissions.md has no permission table marker"));
    let end = PERMISSIONS_MD
        .find("<!-- /permission-table -->")
        .unwrap_or_else(|| panic!("docs/permissions.md has no end marker"));
    let mut rows = Vec::new();
    for line in PERMISSIONS_MD[start..end].lines().skip(3) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let action = cells[0].trim_matches('`').to_owned();
        let parsed = cells[1..]
            .iter()
            .map(|c| match *c {
                "yes" => Cell::Yes,
                "no" => Cell::No,
                "in scope" => Cell::InScope,
                other => panic!("{action}: unknown cell {other:?}"),
            })
            .collect::<Vec<_>>();
        assert_eq!(parsed.len(), COLUMNS.len(), "{action}: {line}");
        rows.push((action, parsed));
    }
    rows
}

fn principal(role: Role, server_admin: bool, scope: GrantScope) -> Principal {
    Principal {
        id: format!("tok-{}", role.as_str()),
        name: "t".into(),
        role,
        project: ProjectId::default(),
        server_admin,
        scope,
    }
}

fn name(s: &str) -> PromptName {
    PromptName::parse(s).unwrap_or_else(|_| unreachable!())
}

fn env(s: &str) -> EnvName {
    EnvName::parse(s).unwrap_or_else(|_| unreachable!())
}

#[test]
fn permission_table_matches_the_default_policies() {
    let engine = CedarPolicy::builtin();
    let rows = table();
    // Every action has exactly one row, and every row is an action.
    for action in Action::ALL {
        let n = rows
            .iter()
            .filter(|(a, _)| a == action.cedar_name())
            .count();
        assert_eq!(n, 1, "{} rows for {}", n, action.cedar_name());
    }
    assert_eq!(rows.len(), Action::ALL.len());
    let production = env("production");
    let prompt = name("support/triage");
    // Out of scope by environment, and out of scope by prompt prefix.
    let outside = [
        GrantScope {
            environments: Some(vec![env("staging")]),
            prompt_prefixes: None,
        },
        GrantScope {
            environments: None,
            prompt_prefixes: Some(vec!["billing/".into()]),
        },
    ];
    let inside = [
        GrantScope::default(),
        GrantScope {
            environments: Some(vec![env("staging"), production.clone()]),
            prompt_prefixes: Some(vec!["support/".into()]),
        },
    ];
    let (mut checked, mut unexpected_allows, mut unexpected_denials) = (0, Vec::new(), Vec::new());
    for action in Action::ALL {
        let cells = &rows
            .iter()
            .find(|(a, _)| a == action.cedar_name())
            .unwrap_or_else(|| unreachable!())
            .1;
        for (&(role, server_admin), cell) in COLUMNS.iter().zip(cells) {
            for protected in [false, true] {
                for (in_scope, scopes) in [(true, &inside), (false, &outside)] {
                    for scope in scopes {
                        let p = principal(role, server_admin, scope.clone());
                        let resource = Resource::Pointer {
                            env: &production,
                            protected,
                            name: &prompt,
                        };
                        let expected = match cell {
                            Cell::Yes => true,
                            Cell::No => false,
                            Cell::InScope => in_scope,
                        };
                        let got = engine.check(&p, action, resource).is_ok();
                        let what = format!(
                            "{} by {}{} (protected: {protected}, in scope: {in_scope})",
                            action.cedar_name(),
                            role.as_str(),
                            if server_admin { " (server admin)" } else { "" },
                        );
                        match (expected, got) {
                            (false, true) => unexpected_allows.push(what),
                            (true, false) => unexpected_denials.push(what),
                            _ => {}
                        }
                        checked += 1;
                    }
                }
            }
            // Project-wide, the cell's in-scope value holds (a project is in every scope).
            let p = principal(role, server_admin, outside[0].clone());
            let expected = *cell != Cell::No;
            let project = ProjectId::default();
            if engine
                .check(&p, action, Resource::Project(&project))
                .is_ok()
                != expected
            {
                let what = format!(
                    "{} by {} on the project",
                    action.cedar_name(),
                    role.as_str()
                );
                if expected {
                    unexpected_denials.push(what);
                } else {
                    unexpected_allows.push(what);
                }
            }
        }
    }
    assert!(
        unexpected_allows.is_empty(),
        "unexpected allows: {unexpected_allows:#?}"
    );
    assert!(
        unexpected_denials.is_empty(),
        "unexpected denials: {unexpected_denials:#?}"
    );
    assert_eq!(checked, Action::ALL.len() * COLUMNS.len() * 2 * 4);
}

#[test]
fn a_decision_names_the_policies_behind_it_and_a_refusal_names_action_and_resource() {
    let engine = CedarPolicy::builtin();
    let p = principal(Role::Deployer, false, GrantScope::default());
    let (e, n) = (env("production"), name("a"));
    let pointer = Resource::Pointer {
        env: &e,
        protected: true,
        name: &n,
    };
    let d = engine.check(&p, Action::Deploy, pointer).unwrap();
    assert_eq!(&d.policies[..], ["deployer-may-deploy".to_owned()]);
    let admin = principal(Role::Admin, false, GrantScope::default());
    let d = engine.check(&admin, Action::Read, pointer).unwrap();
    assert_eq!(&d.policies[..], ["reader-may-read".to_owned()]);
    let Err(ServiceError::Forbidden(m)) = engine.check(&p, Action::ManageTokens, pointer) else {
        panic!("a deployer managed tokens")
    };
    assert_eq!(
        m,
        "role 'deployer' may not manage tokens 'a' in the protected environment 'production': \
         no policy permits it; it needs role 'admin'"
    );
    let scoped = principal(
        Role::Deployer,
        false,
        GrantScope {
            environments: Some(vec![env("staging")]),
            prompt_prefixes: None,
        },
    );
    let Err(ServiceError::Forbidden(m)) = engine.check(&scoped, Action::Rollback, pointer) else {
        panic!("an out-of-scope rollback was allowed")
    };
    assert!(
        m.contains("forbidden by policy 'grants-stay-in-scope'"),
        "{m}"
    );
    assert!(m.contains("grants do not reach it"), "{m}");
}

#[test]
fn another_projects_resources_are_out_of_reach_except_for_server_admins() {
    let engine = CedarPolicy::builtin();
    let other = ProjectId::parse("other").unwrap_or_else(|_| unreachable!());
    let admin = principal(Role::Admin, false, GrantScope::default());
    for action in Action::ALL {
        assert!(engine
            .check(&admin, action, Resource::Project(&other))
            .is_err());
    }
    let server = principal(Role::Admin, true, GrantScope::default());
    assert!(engine
        .check(&server, Action::ManageTokens, Resource::Project(&other))
        .is_ok());
    assert!(engine
        .check(&server, Action::ManageProjects, Resource::Project(&other))
        .is_ok());
    assert!(engine
        .check(&server, Action::Read, Resource::Project(&other))
        .is_err());
}

#[test]
fn policy_files_that_do_not_parse_or_validate_are_refused_with_cedars_message() {
    let engine = CedarPolicy::builtin();
    let e = engine
        .prepare("permit (principal, action, resource", "p.cedar")
        .unwrap_err();
    assert_eq!(e.origin, "p.cedar");
    assert!(
        e.to_string()
            .starts_with("policy file p.cedar: does not parse: "),
        "{e}"
    );
    assert!(e.message.contains("line 1"), "{e}");
    let typo = "@id(\"x\")\npermit (principal, action == Action::\"depoy\", resource);";
    let e = engine.prepare(typo, "p.cedar").unwrap_err();
    assert!(e.message.contains("does not validate"), "{e}");
    assert!(e.message.contains("depoy"), "{e}");
    assert!(e.message.contains("line 2"), "{e}");
    let bad_attr = "permit (principal, action, resource) when { principal.rank > 3 };";
    let e = engine.prepare(bad_attr, "p.cedar").unwrap_err();
    assert!(e.message.contains("rank"), "{e}");
    let twice = "@id(\"a\") permit (principal, action, resource);\n\
                 @id(\"a\") forbid (principal, action, resource);";
    let e = engine.prepare(twice, "p.cedar").unwrap_err();
    assert!(e.message.contains("share an @id"), "{e}");
    assert!(engine.prepare("// nothing\n", "p.cedar").is_err());
    let template = "permit (principal == ?principal, action, resource);";
    assert!(engine
        .prepare(template, "p.cedar")
        .unwrap_err()
        .message
        .contains("template"));
}

#[test]
fn installing_policies_replaces_the_set_and_forgets_earlier_decisions() {
    let engine = CedarPolicy::builtin();
    let p = principal(Role::Reader, false, GrantScope::default());
    let project = ProjectId::default();
    assert!(engine
        .check(&p, Action::Resolve, Resource::Project(&project))
        .is_ok());
    let only_admins =
        "@id(\"admins-only\") permit (principal in Role::\"admin\", action, resource);";
    let prepared = engine.prepare(only_admins, "mine.cedar").unwrap();
    assert_eq!(engine.install(prepared), 1);
    assert_eq!(engine.origin(), "mine.cedar");
    // The memoized allow is gone with the old set.
    assert!(engine
        .check(&p, Action::Resolve, Resource::Project(&project))
        .is_err());
    let admin = principal(Role::Admin, false, GrantScope::default());
    let d = engine
        .check(&admin, Action::Resolve, Resource::Project(&project))
        .unwrap();
    assert_eq!(&d.policies[..], ["admins-only".to_owned()]);
}

#[test]
fn version_tags_reach_the_policies() {
    let engine = CedarPolicy::builtin();
    let rule = format!(
        "{DEFAULT_POLICIES}\n@id(\"pii-needs-a-reviewer\") forbid (principal, action == Action::\"create_version\", resource is Prompt) when {{ resource.tags.contains(\"pii\") }} unless {{ principal in Role::\"reviewer\" }};"
    );
    engine.install(engine.prepare(&rule, "tags.cedar").unwrap());
    let author = principal(Role::Author, false, GrantScope::default());
    let n = name("a");
    let pii = ["pii".to_owned()];
    let tagged = Resource::Version {
        name: &n,
        tags: &pii,
    };
    let Err(ServiceError::Forbidden(m)) = engine.check(&author, Action::CreateVersion, tagged)
    else {
        panic!("the forbid did not apply")
    };
    assert!(m.contains("'pii-needs-a-reviewer'"), "{m}");
    let plain = Resource::Version {
        name: &n,
        tags: &[],
    };
    assert!(engine.check(&author, Action::CreateVersion, plain).is_ok());
    let reviewer = principal(Role::Reviewer, false, GrantScope::default());
    assert!(engine
        .check(&reviewer, Action::CreateVersion, tagged)
        .is_ok());
}
