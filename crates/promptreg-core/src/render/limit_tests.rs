//! Template bombs: each asks for far more than the limits allow and must fail quickly, with a
//! [`RenderError::Limit`] naming the limit, without allocating what it asks for.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

/// Renders `t` with `vars` as a text prompt would be, past the publish-time check (which
/// would refuse the constant bombs), asserting it fails fast; the limit it names.
fn limit_of(t: &str, vars: Value) -> &'static str {
    let budget = Arc::new(Budget::new(RenderLimits::default()));
    let env = sandbox::environment(&budget);
    let start = Instant::now();
    let err = match run(&env, &budget, "template".into(), t, &vars) {
        Ok(out) => panic!("{t}: rendered {} bytes", out.len()),
        Err(e) => e,
    };
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{t}: took {:?}",
        start.elapsed()
    );
    match err {
        RenderError::Limit {
            limit, ref message, ..
        } => {
            assert!(!message.is_empty());
            limit
        }
        other => panic!("{t}: expected a limit error, got {other}"),
    }
}

const HUGE: u64 = 10_000_000_000_000;

#[test]
fn size_arguments_are_bounded() {
    let n = json!({"n": HUGE});
    for t in [
        "{{ 'x'|indent(n) }}",
        "{{ 'a\nb'|indent(width=n) }}",
        "{{ [1, 2, 3]|slice(n) }}",
        "{{ [1, 2, 3]|batch(n) }}",
        "{{ range(n)|length }}",
        "{{ range(10**13)|length }}",
        "{{ range(0, n, 1)|length }}",
        "{{ '%10000000000s'|format('x') }}",
        "{{ '%-10000000000s'|format('x') }}",
        "{{ '%.999999999f'|format(1.5) }}",
        "{{ '%*s'|format(n, 'x') }}",
        "{{ ([1] * 10**12)|list }}",
        "{{ ([1] * 10**12)|join }}",
        "{{ ([1] * 10**12)|sort }}",
        "{{ ([1] * 10**12)|map('string')|list }}",
        "{{ 1 is in([0] * 10**12) }}",
    ] {
        assert_eq!(limit_of(t, n.clone()), "max_size_argument", "{t}");
    }
}

#[test]
fn output_and_intermediate_text_are_bounded() {
    let big = "y".repeat(100_000);
    let vars = json!({"big": big, "s": "abcdefghij", "sep": "-".repeat(1000)});
    for t in [
        // String repetition: the engine caps it at 100 MB, the output bound far lower.
        "{{ 'x' * 10**10 }}",
        "{{ 'x' * 10**7 }}",
        "{% for i in range(100) %}{{ big }}{% endfor %}",
        "{% for i in range(20) %}{{ [big, big]|join(',') }}{% endfor %}",
        "{{ ([big] * 1000)|join }}",
        "{{ ([s] * 10000)|join(sep) }}",
        "{{ big|replace('y', big) }}",
        "{{ s|replace('', big * 10) }}",
        "{% set a = s|replace('a', s * 100) %}{% set b = a|replace('a', a) %}{{ b|replace('a', b) }}",
        "{{ big|replace('y', 'y\n')|indent(50) }}",
        "{{ ([big] * 1000)|pprint }}",
        "{{ ([big] * 1000)|string }}",
        "{{ ([big] * 1000)|upper }}",
        "{{ debug() }}{% set l = [big] * 1000 %}{{ debug(l) }}",
        // Captured blocks and macro output never reach the writer until printed.
        "{% set a %}{% for i in range(1000) %}{{ big }}{% endfor %}{% endset %}{{ a|length }}",
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{{ big }}{% endmacro %}{{ f(12)|length }}",
    ] {
        assert_eq!(limit_of(t, vars.clone()), "max_output_bytes", "{t}");
    }
}

#[test]
fn nested_loops_run_out_of_fuel() {
    let t = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    assert_eq!(limit_of(t, json!({})), "max_fuel");
    // Each call is one step, but checks a 100,000-item list: the walk is bounded too.
    let t = "{% set l = range(100000)|list %}{% for i in range(100000) %}{{ l|last }}{% endfor %}";
    assert_eq!(limit_of(t, json!({})), "max_fuel");
}

#[test]
fn the_output_bound_covers_all_messages_of_a_chat() {
    let c = PromptContent::new(
        PromptBody::Chat(vec![
            ChatEntry::Message {
                role: "system".into(),
                content: "{{ big }}".into(),
            },
            ChatEntry::Message {
                role: "user".into(),
                content: "{{ big }}".into(),
            },
        ]),
        None,
        None,
    )
    .unwrap();
    let vars = json!({"big": "z".repeat(600 * 1024)});
    let err = render(&c, &vars).unwrap_err();
    assert!(
        matches!(err, RenderError::Limit { ref field, limit: "max_output_bytes", .. } if field == "messages[1].content"),
        "{err}"
    );
    let roomy = RenderLimits {
        max_output_bytes: 2 * 1024 * 1024,
        ..RenderLimits::default()
    };
    assert!(render_with(&c, &vars, &roomy).is_ok());
}

#[test]
fn limits_are_configurable() {
    let c =
        PromptContent::new(PromptBody::Text("{{ 'x'|indent(500) }}".into()), None, None).unwrap();
    assert!(render(&c, &json!({})).is_ok());
    let tight = RenderLimits {
        max_size_argument: 100,
        ..RenderLimits::default()
    };
    let err = render_with(&c, &json!({}), &tight).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::Limit {
                limit: "max_size_argument",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_size_argument"), "{err}");
}

#[test]
fn ordinary_templates_still_render() {
    let c = PromptContent::new(
        PromptBody::Text(
            "{% for m in items|sort %}{{ loop.index }}. {{ m|upper|indent(2) }}\n{% endfor %}\
             {{ names|join(', ') }} {{ '%05d'|format(42) }} {{ 'a-b'|replace('-', '+') }} \
             {{ range(3)|list }} {{ [1, 2, 3]|batch(2)|list }} {{ ('ab' * 3) ~ '!' }}"
                .into(),
        ),
        None,
        None,
    )
    .unwrap();
    let out = render(&c, &json!({"items": ["b", "a"], "names": ["Ada", "Bob"]})).unwrap();
    assert_eq!(
        out,
        Rendered::Text("1. A\n2. B\nAda, Bob 00042 a+b [0, 1, 2] [[1, 2], [3]] ababab!".into())
    );
}

#[test]
fn filters_missing_from_the_engine_are_plain_errors() {
    for t in [
        "{{ 'x'|center(10000000000000) }}",
        "{{ 'x'|wordwrap(10000000000000) }}",
        "{{ 'x'|truncate(10000000000000) }}",
    ] {
        let c = PromptContent::new(PromptBody::Text(t.into()), None, None);
        let err = match c {
            Err(e) => e.to_string(),
            Ok(c) => render(&c, &json!({})).unwrap_err().to_string(),
        };
        assert!(err.contains("unknown filter"), "{t}: {err}");
    }
}

#[test]
fn constant_bombs_are_refused_when_published() {
    for (t, limit) in [
        ("{{ 'x'|indent(10**13) }}", "max_size_argument"),
        (
            "{{ 'x'|indent(width=10000000000000) }}",
            "max_size_argument",
        ),
        ("a\n{{ [1]|slice(10 ** 13) }}", "max_size_argument"),
        (
            "{% for i in range(0, 10**13) %}{% endfor %}",
            "max_size_argument",
        ),
        ("{{ 'x' * 10**10 }}", "max_output_bytes"),
        ("{{ 10**7 * 'ab' }}", "max_output_bytes"),
        ("{% if 1 in [0] * 10**12 %}{% endif %}", "max_size_argument"),
        ("{{ (range(10) | list) * 10**12 }}", "max_size_argument"),
    ] {
        let err = check_template(t).expect_err(t);
        assert!(err.contains(limit), "{t}: {err}");
        assert!(err.contains("line"), "{t}: {err}");
    }
    for ok in [
        "{{ 'x'|indent(4) }} {{ '-' * 20 }} {{ 3 * 4 }} {% for i in range(10) %}{% endfor %}",
        "{# indent(10**13) #}{% raw %}{{ 'x' * 10**10 }}{% endraw %}",
        "{{ n > 10000000000000 }}",
        "{{ [1, 2] * 3 }} {{ (a + b) * 2 }}",
    ] {
        assert_eq!(check_template(ok), Ok(()), "{ok}");
    }
}
