//! The counted prompt list ([`Store::prompt_page`](promptreg_store::Store::prompt_page)): one
//! page by offset and the number of matches, without reading the prompts it skips.
//!
//! Count, page and the page's live environments come from one statement (one snapshot, one
//! round trip): the count is a one-row subquery that the page's rows are left-joined to, so an
//! empty page still carries the total.

use promptreg_core::{EnvName, ProjectId, Version};
use promptreg_store::{OffsetPage, PromptPage, PromptQuery, PromptRecord, StoredContent};
use sqlx::Row;

use crate::error::Result;
use crate::rows::{self, VERSION_COLUMNS};
use crate::PgStore;

pub(crate) async fn prompt_page(
    store: &PgStore,
    project: &ProjectId,
    query: &PromptQuery,
    page: OffsetPage,
) -> Result<PromptPage<StoredContent>> {
    // The primary key (project, name) gives the name order, so LIMIT/OFFSET walk the index
    // and only the page's rows are joined to their version and pointers. The tag is matched
    // on the latest version only, through its primary key.
    let sql = format!(
        "WITH matching AS ( \
             SELECT p.project, p.name, p.latest_version FROM prompts p \
             WHERE p.project = $1 \
               AND ($2::TEXT IS NULL OR p.name = $2) \
               AND ($3::TEXT IS NULL OR EXISTS (SELECT 1 FROM pointers pt \
                    WHERE pt.project = p.project AND pt.env = $3 AND pt.name = p.name)) \
               AND ($4::TEXT IS NULL OR EXISTS (SELECT 1 FROM versions tv \
                    WHERE tv.project = p.project AND tv.name = p.name \
                      AND tv.version = p.latest_version AND tv.metadata -> 'tags' ? $4)) \
         ), page AS ( \
             SELECT * FROM matching ORDER BY name LIMIT $5 OFFSET $6 \
         ) \
         SELECT t.total, {VERSION_COLUMNS}, \
                (SELECT COALESCE(array_agg(pt.env ORDER BY pt.env), '{{}}') FROM pointers pt \
                  WHERE pt.project = page.project AND pt.name = page.name) AS envs, \
                (SELECT COALESCE(array_agg(pt.version ORDER BY pt.env), '{{}}') FROM pointers pt \
                  WHERE pt.project = page.project AND pt.name = page.name) AS env_versions \
         FROM (SELECT COUNT(*) AS total FROM matching) t \
         LEFT JOIN page ON TRUE \
         LEFT JOIN versions v ON v.project = page.project AND v.name = page.name \
              AND v.version = page.latest_version \
         ORDER BY page.name"
    );
    let rows = sqlx::query(&sql)
        .bind(project.as_str())
        .bind(query.name.as_ref().map(|n| n.as_str()))
        .bind(query.env.as_ref().map(EnvName::as_str))
        .bind(query.tag.as_deref())
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&store.pool)
        .await?;
    let total: i64 = match rows.first() {
        Some(row) => row.try_get("total")?,
        None => 0,
    };
    let mut prompts = Vec::with_capacity(rows.len());
    for row in &rows {
        // The one row of an empty page has no version.
        if row.try_get::<Option<String>, _>("name")?.is_none() {
            continue;
        }
        let latest = rows::version(row)?;
        let envs: Vec<String> = row.try_get("envs")?;
        let versions: Vec<i64> = row.try_get("env_versions")?;
        let deployed = envs
            .into_iter()
            .zip(versions)
            .map(|(e, n)| Ok((rows::env_name(e)?, rows::version_number(n)?)))
            .collect::<Result<Vec<(EnvName, Version)>>>()?;
        prompts.push(PromptRecord {
            name: latest.name.clone(),
            deployed,
            latest,
        });
    }
    Ok(PromptPage {
        prompts,
        total: u64::try_from(total).unwrap_or(0),
    })
}
