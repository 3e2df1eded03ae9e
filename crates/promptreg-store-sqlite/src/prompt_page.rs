//! The counted prompt list ([`Store::prompt_page`](promptreg_store::Store::prompt_page)): one
//! page by offset and the number of matches, without reading the prompts it skips.
//!
//! Count and page come from one statement (one snapshot): the count is a one-row subquery
//! that the page's rows are left-joined to, so an empty page still carries the total. The
//! page's live environments come from a second query in the same read transaction.

use std::collections::BTreeMap;

use promptreg_core::{EnvName, ProjectId, Version};
use promptreg_store::{
    OffsetPage, PromptPage, PromptQuery, PromptRecord, StoreResult, StoredContent,
};
use sqlx::{Row, SqlitePool};

use crate::rows::VERSION_COLS;
use crate::{db_err, rows};

/// The filters as SQL over `prompts p` (and `versions v`, its latest version, when a tag is
/// asked), with the values to bind in order.
fn matching(query: &PromptQuery) -> (String, Vec<String>) {
    let mut sql = String::from("SELECT p.project, p.name, p.latest_version FROM prompts p");
    let mut binds = Vec::new();
    if query.tag.is_some() {
        sql.push_str(
            " JOIN versions v ON v.project = p.project AND v.name = p.name \
               AND v.version = p.latest_version",
        );
    }
    sql.push_str(" WHERE p.project = ?");
    if let Some(name) = &query.name {
        sql.push_str(" AND p.name = ?");
        binds.push(name.to_string());
    }
    if let Some(env) = &query.env {
        // The pointers' primary key (project, env, name): one lookup per prompt.
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM pointers pt \
               WHERE pt.project = p.project AND pt.env = ? AND pt.name = p.name)",
        );
        binds.push(env.to_string());
    }
    if let Some(tag) = &query.tag {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(v.metadata, '$.tags') WHERE value = ?)");
        binds.push(tag.clone());
    }
    (sql, binds)
}

pub(crate) async fn prompt_page(
    pool: &SqlitePool,
    project: &ProjectId,
    query: &PromptQuery,
    page: OffsetPage,
) -> StoreResult<PromptPage<StoredContent>> {
    let (matching, binds) = matching(query);
    // The primary key (project, name) gives the name order, so LIMIT/OFFSET walk the index
    // and only the page's rows are joined to their version.
    let sql = format!(
        "WITH matching AS ({matching}), \
              page AS (SELECT * FROM matching ORDER BY name LIMIT ? OFFSET ?) \
         SELECT t.total, {VERSION_COLS} \
         FROM (SELECT COUNT(*) AS total FROM matching) t \
         LEFT JOIN page ON 1 = 1 \
         LEFT JOIN versions v ON v.project = page.project AND v.name = page.name \
              AND v.version = page.latest_version \
         ORDER BY page.name"
    );
    // Two statements, one snapshot: a read transaction.
    let mut tx = pool.begin().await.map_err(db_err)?;
    let mut q = sqlx::query(&sql).bind(project.as_str());
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
    let total: i64 = match rows.first() {
        Some(row) => row.try_get("total").map_err(db_err)?,
        None => 0,
    };
    let mut latest = Vec::with_capacity(rows.len());
    for row in &rows {
        // The one row of an empty page has no version.
        let name: Option<String> = row.try_get("name").map_err(db_err)?;
        if name.is_some() {
            latest.push(rows::version(row)?);
        }
    }

    let mut deployed: BTreeMap<String, Vec<(EnvName, Version)>> = BTreeMap::new();
    if !latest.is_empty() {
        let marks = vec!["?"; latest.len()].join(", ");
        let sql = format!(
            "SELECT name, env, version FROM pointers \
             WHERE project = ? AND name IN ({marks}) ORDER BY name, env"
        );
        let mut q = sqlx::query(&sql).bind(project.as_str());
        for v in &latest {
            q = q.bind(v.name.as_str());
        }
        for row in q.fetch_all(&mut *tx).await.map_err(db_err)? {
            deployed
                .entry(row.try_get("name").map_err(db_err)?)
                .or_default()
                .push((
                    rows::env_name(&row, "env")?,
                    rows::version_col(&row, "version")?,
                ));
        }
    }
    tx.rollback().await.map_err(db_err)?;
    Ok(PromptPage {
        prompts: latest
            .into_iter()
            .map(|latest| PromptRecord {
                name: latest.name.clone(),
                deployed: deployed.remove(latest.name.as_str()).unwrap_or_default(),
                latest,
            })
            .collect(),
        total: u64::try_from(total).unwrap_or(0),
    })
}
