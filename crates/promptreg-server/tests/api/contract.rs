//! `docs/api.md` and the served `/openapi.json` list the same routes: the route table at the end
//! of the document ("Every route", one `METHOD /path` per row) is compared with every (method,
//! path) of the OpenAPI document, both ways, so that neither can gain or lose a route alone.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};

use crate::helpers::{Backend, TestApp};

/// The contract as the repository ships it; `include_str!` rebuilds the test when it changes.
const API_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md"));

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// `(METHOD, /path)` of every table row whose first cell is `` `METHOD /path` ``.
fn documented_routes(markdown: &str) -> Vec<(String, String)> {
    markdown
        .lines()
        .filter_map(|line| {
            let cell = line.strip_prefix("| `")?.split('`').next()?;
            let (method, path) = cell.split_once(' ')?;
            (METHODS.contains(&method) && path.starts_with('/'))
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

#[test]
fn the_route_table_is_read_as_written() {
    let rows = documented_routes(
        "| route | role |\n| --- | --- |\n| `GET /v1/prompts` | reader |\n\
         | `DELETE /v1/tokens/{id}` | admin |\nnot | `POST /x` |\n| `text` | no |\n",
    );
    assert_eq!(
        rows,
        [
            ("GET".to_owned(), "/v1/prompts".to_owned()),
            ("DELETE".to_owned(), "/v1/tokens/{id}".to_owned())
        ]
    );
}

#[tokio::test]
async fn docs_api_md_lists_exactly_the_routes_of_the_openapi_document() {
    let documented = documented_routes(API_MD);
    let unique: BTreeSet<_> = documented.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        documented.len(),
        "a route is listed twice in docs/api.md"
    );
    assert!(
        unique.len() > 20,
        "docs/api.md's route table was not found: {unique:?}"
    );

    let app = TestApp::new(Backend::Sqlite).await.unwrap();
    let doc = app
        .raw(Method::GET, "/openapi.json", None, vec![], &[])
        .await;
    app.finish().await;
    assert_eq!(doc.status, StatusCode::OK);
    let served: BTreeSet<(String, String)> = doc.body["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_ascii_uppercase())
                .filter(|m| METHODS.contains(&m.as_str()))
                .map(move |m| (m, path.clone()))
        })
        .collect();

    let undocumented: Vec<_> = served.difference(&unique).collect();
    let unserved: Vec<_> = unique.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "in /openapi.json but not in docs/api.md's route table: {undocumented:?}\n\
         in docs/api.md's route table but not in /openapi.json: {unserved:?}"
    );
}
