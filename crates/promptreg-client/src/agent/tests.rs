//! The cache's ordering rules and the arm rule, without a server (the end-to-end comparison
//! with the server's answers is in `tests/client/agent/`).

use std::sync::Arc;

use promptreg_api::Resolved;
use promptreg_core::rollout::bucket;
use promptreg_core::{PromptBody, PromptContent, Version};

use super::cache::{Cache, Entry, Rollout};
use super::prompt::{Arm, Prompt};
use super::verify::CachedVersion;

fn version(n: i64) -> Arc<CachedVersion> {
    let content = PromptContent::new(PromptBody::Text(format!("v{n}")), None, None).unwrap();
    Arc::new(CachedVersion {
        resolved: Resolved {
            name: "p".into(),
            version: Version::new(n).unwrap(),
            digest: content.digest().to_string(),
            prompt_type: content.prompt_type(),
            template: Some(format!("v{n}")),
            messages: None,
            variables: None,
            model: None,
            env: "production".into(),
            assignment: None,
        },
        content,
    })
}

fn entry(rollout: Option<Rollout>) -> Entry {
    Entry {
        pointer_seq: 1,
        live: version(1),
        rollout: rollout.map(Arc::new),
        rollout_mark: None,
    }
}

fn canary(weight: u32, preview: bool, switched: bool) -> Rollout {
    Rollout {
        id: "01900000-0000-7000-8000-000000000001".into(),
        weight,
        step: 2,
        preview,
        switched,
        candidate: version(2),
    }
}

#[test]
fn without_a_rollout_or_a_subject_the_live_version_is_served_plainly() {
    let e = entry(None);
    let p = Prompt::serve(&e, Some("s"), false);
    assert_eq!((p.version().get(), p.arm()), (1, None));
    let e = entry(Some(canary(10_000, false, false)));
    let p = Prompt::serve(&e, None, false);
    assert_eq!((p.version().get(), p.assignment()), (1, None));
}

#[test]
fn a_canary_places_subjects_by_their_bucket() {
    let e = entry(Some(canary(3000, false, false)));
    let (mut stable, mut candidate) = (0, 0);
    for i in 0..1000 {
        let subject = format!("agent-{i}");
        let b = bucket("01900000-0000-7000-8000-000000000001", &subject);
        let p = Prompt::serve(&e, Some(&subject), false);
        let a = p.assignment().unwrap();
        assert_eq!((a.bucket, a.step), (Some(b), 2));
        if b < 3000 {
            assert_eq!((p.version().get(), p.arm()), (2, Some(Arm::Candidate)));
            candidate += 1;
        } else {
            assert_eq!((p.version().get(), p.arm()), (1, Some(Arm::Stable)));
            stable += 1;
        }
        assert_eq!(p.resolved().assignment, Some(a));
    }
    assert!(candidate > 200 && stable > 600, "{candidate}/{stable}");
}

#[test]
fn blue_green_serves_stable_until_the_switch_and_the_candidate_as_a_preview() {
    let e = entry(Some(canary(0, true, false)));
    let p = Prompt::serve(&e, Some("s"), false);
    assert_eq!((p.version().get(), p.arm()), (1, Some(Arm::Stable)));
    let p = Prompt::serve(&e, None, true);
    assert_eq!(
        (p.version().get(), p.arm(), p.bucket()),
        (2, Some(Arm::Preview), None)
    );
    // After the switch the pointer holds the candidate: the live entry, on the candidate arm.
    let e = entry(Some(canary(0, false, true)));
    let p = Prompt::serve(&e, Some("s"), false);
    assert_eq!((p.version().get(), p.arm()), (1, Some(Arm::Candidate)));
    // No preview outside a blue-green before its switch.
    let p = Prompt::serve(&e, None, true);
    assert_eq!((p.version().get(), p.arm()), (1, None));
}

#[test]
fn only_newer_pointers_and_rollout_states_apply() {
    let cache = Cache::default();
    assert!(cache.set_pointer("p", 5, version(3)));
    assert!(
        !cache.set_pointer("p", 4, version(1)),
        "an older pointer record"
    );
    assert!(
        !cache.set_pointer("p", 5, version(1)),
        "the same record again"
    );
    assert_eq!(cache.get("p").unwrap().live.resolved.version.get(), 3);

    let (a, b) = (
        "01900000-0000-7000-8000-00000000000a",
        "01900000-0000-7000-8000-00000000000b",
    );
    assert!(cache.set_rollout("p", b, 2, Some(canary(100, false, false))));
    assert!(!cache.set_rollout("p", b, 1, None), "an older revision");
    assert!(!cache.set_rollout("p", a, 9, None), "an older rollout");
    assert!(cache.get("p").unwrap().rollout.is_some());
    assert!(cache.set_rollout("p", b, 3, None), "its end");
    assert!(
        !cache.set_rollout("p", b, 2, Some(canary(100, false, false))),
        "no revival"
    );
    assert!(cache.get("p").unwrap().rollout.is_none());
    // A pointer move keeps the rollout mark.
    assert!(cache.set_pointer("p", 6, version(2)));
    assert!(!cache.get("p").unwrap().rollout_is_newer(b, 3));
    assert!(
        !cache.set_rollout("absent", b, 1, None),
        "no rollout without a live pointer"
    );
}
