#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::deploy::DeployKind;
use crate::name::{EnvName, PromptName, Version};

fn day(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::days(n)
}

fn name(n: &str) -> PromptName {
    PromptName::parse(n).unwrap()
}

fn env(e: &str) -> EnvName {
    EnvName::parse(e).unwrap()
}

fn v(n: i64) -> Version {
    Version::try_from(n).unwrap()
}

/// Versions 1..=count of `p`, version `i` created on day `i`.
fn versions(p: &str, count: i64) -> Vec<VersionFact> {
    (1..=count)
        .map(|i| VersionFact {
            name: name(p),
            version: v(i),
            created_at: day(i),
            pruned: false,
        })
        .collect()
}

fn mv(e: &str, p: &str, seq: i64, kind: DeployKind, to: i64, at: i64) -> MoveFact {
    MoveFact {
        env: env(e),
        name: name(p),
        seq,
        kind,
        to_version: v(to),
        at: day(at),
    }
}

fn pruned(plan: &Plan) -> Vec<(String, i64)> {
    plan.prune
        .iter()
        .map(|p| (p.name.to_string(), p.version.get()))
        .collect()
}

fn held(plan: &Plan, version: i64) -> Vec<String> {
    plan.held
        .iter()
        .find(|h| h.version.get() == version)
        .map(|h| h.holds.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

fn rules(keep_last: Option<u32>, days: Option<u64>) -> Rules {
    Rules::new(keep_last, days.map(|d| Duration::from_secs(d * 86_400))).unwrap()
}

#[test]
fn no_rules_prune_nothing_and_keep_last_keeps_the_newest() {
    let vs = versions("a", 5);
    let none = BTreeSet::new();
    let facts = Facts {
        versions: &vs,
        moves: &[],
        protected: &none,
        rollouts: &[],
    };
    assert_eq!(plan(&Rules::default(), day(100), &facts), Plan::default());
    let p = plan(&rules(Some(2), None), day(100), &facts);
    assert_eq!(
        pruned(&p),
        vec![("a".into(), 1), ("a".into(), 2), ("a".into(), 3)]
    );
    assert_eq!(p.prune[0].reason, "beyond the newest 2 versions of 'a'");
    // Only an age: the latest version still stays (keep_last defaults to 1).
    let p = plan(&rules(None, Some(30)), day(100), &facts);
    assert_eq!(pruned(&p).len(), 4);
    assert!(
        p.prune[0]
            .reason
            .ends_with("never live: unused for more than 30d"),
        "{}",
        p.prune[0].reason
    );
}

#[test]
fn an_age_keeps_what_was_created_or_live_recently() {
    let vs = versions("a", 6);
    let none = BTreeSet::new();
    // v1 live from day 10 to day 80, v2 from day 80 to day 90, then v6.
    let moves = [
        mv("staging", "a", 1, DeployKind::Deploy, 1, 10),
        mv("staging", "a", 2, DeployKind::Deploy, 2, 80),
        mv("staging", "a", 3, DeployKind::Deploy, 6, 90),
    ];
    let facts = Facts {
        versions: &vs,
        moves: &moves,
        protected: &none,
        rollouts: &[],
    };
    // On day 100 with 15 days: v1 last live day 80 (20 days ago) goes; v2 live until day 90
    // stays; v3..v5 created on days 3..5 never live go (v1 and v2 are rollback targets).
    let p = plan(&rules(Some(1), Some(15)), day(100), &facts);
    assert_eq!(
        pruned(&p),
        vec![("a".into(), 3), ("a".into(), 4), ("a".into(), 5)]
    );
    assert_eq!(held(&p, 1), vec!["a rollback target in staging"]);
    assert!(p.held.iter().all(|h| h.version != v(2)), "live within 15d");
    // A version created within the age stays even if never live (cutoff: day 4).
    let p = plan(&rules(Some(1), Some(96)), day(100), &facts);
    assert_eq!(pruned(&p), vec![("a".into(), 3)]);
    assert!(
        p.prune[0].reason.contains("created 2027-01-"),
        "{}",
        p.prune[0].reason
    );
}

#[test]
fn live_protected_rollback_and_rollout_versions_are_held() {
    let mut vs = versions("a", 8);
    vs[6].pruned = true; // v7 was pruned already: never listed again
    let protected: BTreeSet<EnvName> = [env("production")].into();
    let moves = [
        // production: v1 then v2, rolled back to v1: v2 is no longer on the stack, but was
        // deployed to a protected environment.
        mv("production", "a", 1, DeployKind::Deploy, 1, 1),
        mv("production", "a", 2, DeployKind::Deploy, 2, 2),
        mv("production", "a", 3, DeployKind::Rollback, 1, 3),
        // staging: v3 then v4 live (v3 a rollback target).
        mv("staging", "a", 1, DeployKind::Deploy, 3, 4),
        mv("staging", "a", 2, DeployKind::Deploy, 4, 5),
    ];
    let rollouts = [
        RolloutFact {
            id: "r1".into(),
            env: env("development"),
            name: name("a"),
            stable: v(5),
            candidate: v(6),
            active: true,
            updated_at: day(6),
        },
        RolloutFact {
            id: "r0".into(),
            env: env("development"),
            name: name("a"),
            stable: v(5),
            candidate: v(2),
            active: false,
            updated_at: day(7),
        },
    ];
    let facts = Facts {
        versions: &vs,
        moves: &moves,
        protected: &protected,
        rollouts: &rollouts,
    };
    let p = plan(&rules(Some(1), None), day(100), &facts);
    assert_eq!(pruned(&p), Vec::<(String, i64)>::new(), "{p:#?}");
    assert_eq!(
        held(&p, 1),
        vec![
            "live in production",
            "was deployed to the protected environment production"
        ]
    );
    assert_eq!(
        held(&p, 2),
        vec!["was deployed to the protected environment production"]
    );
    assert_eq!(held(&p, 3), vec!["a rollback target in staging"]);
    assert_eq!(held(&p, 4), vec!["live in staging"]);
    assert_eq!(
        held(&p, 5),
        vec!["the stable version of active rollout r1 in development"]
    );
    assert_eq!(
        held(&p, 6),
        vec!["the candidate of active rollout r1 in development"]
    );
    assert!(held(&p, 7).is_empty() && held(&p, 8).is_empty());

    // The rollout over: v5 and v6 go, unless an age counts their time in it.
    let over: Vec<RolloutFact> = rollouts
        .iter()
        .cloned()
        .map(|mut r| {
            r.active = false;
            r
        })
        .collect();
    let facts = Facts {
        rollouts: &over,
        ..facts
    };
    let p = plan(&rules(Some(1), None), day(100), &facts);
    assert_eq!(pruned(&p), vec![("a".into(), 5), ("a".into(), 6)]);
    let p = plan(&rules(Some(1), Some(95)), day(100), &facts);
    assert!(pruned(&p).is_empty(), "served by a rollout until day 6");
}

#[test]
fn rules_and_ages_are_checked_and_written_back() {
    assert_eq!(Rules::new(Some(0), None).unwrap_err().field, "keep_last");
    assert!(Rules::new(None, Some(Duration::ZERO)).is_err());
    assert!(Rules::new(None, None).unwrap().is_empty());
    assert_eq!(parse_age("30d").unwrap(), Duration::from_secs(30 * 86_400));
    assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(12 * 3_600));
    for bad in ["30", "d", "1.5d", "30 d", "3w", "99999999999999999999d"] {
        assert!(parse_age(bad).is_err(), "{bad}");
    }
    for text in ["30d", "36h", "90m", "45s"] {
        assert_eq!(format_age(parse_age(text).unwrap()), text);
    }
    assert_eq!(format_age(Duration::from_secs(86_400 * 2)), "2d");
}
