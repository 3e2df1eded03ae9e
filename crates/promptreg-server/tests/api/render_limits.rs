//! Template bombs and optional variables, through the API: a render that would exceed the
//! render limits is a 422 naming the limit while the server goes on serving; a template whose
//! constant arguments already exceed them is refused when published; absent optional
//! variables work in tests, and printing an absent variable names it.

use axum::http::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    template_bombs_are_refused_and_the_server_keeps_serving,
    optional_variables_work_and_missing_ones_are_named
);

async fn template_bombs_are_refused_and_the_server_keeps_serving(app: &TestApp) {
    app.env("production").await;
    // Computed at render time, so the publish-time check cannot see them.
    let bombs = [
        (
            "indent",
            "{% set n = 10 %}{{ 'x'|indent(n ** 13) }}",
            "max_size_argument",
        ),
        (
            "slice",
            "{% set n = 10 %}{{ [1, 2]|slice(n ** 13) }}",
            "max_size_argument",
        ),
        (
            "repeat",
            "{% for i in range(1000) %}{{ 'y' * 100000 }}{% endfor %}",
            "max_output_bytes",
        ),
        (
            "join",
            "{% set l = ['z' * 1000] * 10000 %}{{ l|join(',') }}",
            "max_output_bytes",
        ),
        (
            "loops",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "max_fuel",
        ),
    ];
    for (name, template, _) in bombs {
        let a = app.push(name, template).await;
        assert_eq!(a.status, StatusCode::CREATED, "{name}: {}", a.body);
        app.deploy("production", name, 1).await;
    }
    app.push("fine", "Hello {{ name }}").await;
    app.deploy("production", "fine", 1).await;

    for (name, _, limit) in bombs {
        let a = app
            .post(
                &format!("/v1/resolve/{name}/render"),
                json!({"variables": {}}),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {}",
            a.body
        );
        assert_eq!(a.code(), "render_limit_exceeded", "{name}");
        assert!(a.message().contains(limit), "{name}: {}", a.message());
        // Still serving, with the same process and index.
        let ok = app
            .post(
                "/v1/resolve/fine/render",
                json!({"variables": {"name": "Ada"}}),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(ok.body["text"], "Hello Ada");
    }

    let refused = app.push("constant", "{{ 'x'|indent(10**13) }}").await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.message().contains("max_size_argument"),
        "{}",
        refused.message()
    );
    let refused = app.push("constant", "{{ 'x' * 10**10 }}").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.message().contains("max_output_bytes"),
        "{}",
        refused.message()
    );
}

async fn optional_variables_work_and_missing_ones_are_named(app: &TestApp) {
    app.env("production").await;
    app.push(
        "greet",
        "Hello {{ name }}{% if vip %}, welcome back{% endif %}{{ tail | default('!') }}",
    )
    .await;
    app.deploy("production", "greet", 1).await;
    let a = app
        .post(
            "/v1/resolve/greet/render",
            json!({"variables": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["text"], "Hello Ada!");
    let a = app
        .post(
            "/v1/resolve/greet/render",
            json!({"variables": {"name": "Ada", "vip": true}}),
        )
        .await;
    assert_eq!(a.body["text"], "Hello Ada, welcome back!");
    let missing = app
        .post(
            "/v1/resolve/greet/render",
            json!({"variables": {"vip": true}}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.code(), "validation_failed");
    assert!(
        missing
            .message()
            .contains("undefined variable 'name' (line 1)"),
        "{}",
        missing.message()
    );
}
