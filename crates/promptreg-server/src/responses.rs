//! Reusable OpenAPI error responses: each route lists the sets of error statuses it can
//! answer (`responses((status = 200, body = X), Auth, NotFound)`), each with the error
//! envelope's schema, so the document declares every status a client can see and a new route
//! cannot forget one by copy and paste.

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// Responses with the given statuses and descriptions, each a JSON body of `schema`.
fn with_body(schema: &str, statuses: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

macro_rules! error_set {
    ($(#[doc = $doc:literal])* $name:ident, $schema:literal, [$(($status:literal, $description:literal)),* $(,)?]) => {
        $(#[doc = $doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                with_body($schema, &[$(($status, $description)),*])
            }
        }
    };
}

error_set!(
    /// 401 and 403: every authenticated route; 429 when the client's address failed to
    /// authenticate too often (`--auth-failure-limit`).
    Auth,
    "ErrorBody",
    [
        (401, "Missing or invalid credentials (`unauthorized`)"),
        (403, "The credentials lack the right (`forbidden`)"),
        (429, "Too many failed authentications from this address (`too_many_requests`; `Retry-After`)"),
    ]
);

error_set!(
    /// 400: a path segment or query parameter that does not parse (bad prompt name, limit,
    /// cursor, NUL character).
    BadRequest,
    "ErrorBody",
    [(400, "A path segment or query parameter is invalid (`invalid_request`)")]
);

error_set!(
    /// 404: the prompt, version, environment or token does not exist.
    NotFound,
    "ErrorBody",
    [(404, "Not found (`not_found`, `not_deployed`)")]
);

error_set!(
    /// 409 and 410: a version whose stored content no longer opens, or was pruned.
    Unreadable,
    "ErrorBody",
    [
        (409, "The version's stored content does not verify (`integrity_error`)"),
        (410, "The version's content was pruned by the lifecycle rules (`pruned`)"),
    ]
);

error_set!(
    /// 409: the write conflicts with the current state.
    Conflict,
    "ErrorBody",
    [(409, "Conflicts with the current state")]
);

error_set!(
    /// 400, 413 and 422: a JSON body that does not parse, is too large or is invalid.
    BadBody,
    "ErrorBody",
    [
        (400, "Malformed JSON, or a path or query parameter is invalid (`invalid_request`)"),
        (413, "The body is larger than the server's limit (`payload_too_large`)"),
        (422, "The body is valid JSON but not a valid request; the message names the field (`validation_failed`)"),
    ]
);

error_set!(
    /// 422: the request is well-formed but cannot be carried out (e.g. render variables that
    /// fail the version's schema).
    Unprocessable,
    "ErrorBody",
    [(422, "Well-formed but cannot be carried out; the message names the field (`validation_failed`)")]
);

error_set!(
    /// The errors of the Langfuse-compatible routes, in Langfuse's own body.
    LangfuseErrors,
    "LangfuseErrorBody",
    [
        (400, "Invalid request (`InvalidRequestError`); Langfuse has no 409 or 422"),
        (401, "Missing or invalid key pair (`UnauthorizedError`)"),
        (403, "The key pair's role lacks the right (`AccessDeniedError`)"),
        (404, "Not found (`NotFoundError`)"),
        (429, "Too many failed authentications from this address; `Retry-After` says when to retry"),
    ]
);

error_set!(
    /// 413 on the Langfuse-compatible routes.
    LangfuseTooLarge,
    "LangfuseErrorBody",
    [(413, "The body is larger than the server's limit (`InvalidRequestError`)")]
);

error_set!(
    /// A promotion gate refused the move (`details` say what it looked at).
    Gated,
    "ErrorBody",
    [(409, "A promotion gate refused the version (`gate_failed`, `predecessor_required`; `details` name the gate, its expression and the values it read, or the predecessor and the time spent there), or another conflict with the current state")]
);

error_set!(
    /// The errors of the OFREP routes, in OFREP's body `{key?, errorCode, errorDetails}`
    /// (`TARGETING_KEY_MISSING` adds the live version as `value`).
    OfrepErrors,
    "FlagFailure",
    [
        (400, "A body that is not a JSON object (`PARSE_ERROR`); a context of the wrong type, or an `env` that does not exist (`INVALID_CONTEXT`); an active rollout and no `targetingKey` (`TARGETING_KEY_MISSING`, with the live version as `value`)"),
        (401, "Missing or invalid bearer token (`GENERAL`)"),
        (403, "The token's role may not resolve (`GENERAL`)"),
        (413, "The body is larger than the server's limit (`GENERAL`)"),
        (429, "Too many failed authentications from this address (`GENERAL`; `Retry-After`)"),
        (500, "An unexpected server error (`GENERAL`)"),
        (503, "This replica cannot answer now (`GENERAL`)"),
    ]
);

error_set!(
    /// 404 on the OFREP single-flag route.
    OfrepFlagNotFound,
    "FlagFailure",
    [(404, "No prompt has this name (`FLAG_NOT_FOUND`)")]
);
