//! The SQL of change requests and their reviews: the unit-of-work steps and the reads.
//!
//! An apply locks the request's row (`SELECT … FOR UPDATE`) inside its transaction, besides
//! the project's writer lock every unit of work holds: two applies of one request take
//! turns, and the second reads the first's `applied`.

use promptreg_core::change::{ChangeStatus, Verdict};
use promptreg_core::ProjectId;
use promptreg_store::{
    ChangeRequestFilter, ChangeRequestRecord, ChangeReviewRecord, Environment, PageRequest,
    StoreError,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::error::{corrupt, not_found, unique_violation, Error, Result};
use crate::rows;

const COLS: &str = "id, env, name, version, digest, reason, status, requested_by, author, \
    created_at, expires_at, applied_at, applied_by, rollout";

fn decode(row: &PgRow) -> Result<ChangeRequestRecord> {
    let status: String = row.try_get("status")?;
    Ok(ChangeRequestRecord {
        id: row.try_get("id")?,
        env: rows::env_name(row.try_get("env")?)?,
        name: rows::prompt_name(row.try_get("name")?)?,
        version: rows::version_number(row.try_get("version")?)?,
        digest: rows::digest(row.try_get("digest")?)?,
        reason: row.try_get("reason")?,
        status: ChangeStatus::parse(&status)
            .ok_or_else(|| corrupt("change request status", &status))?,
        requested_by: row.try_get("requested_by")?,
        author: row.try_get("author")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        applied_at: row.try_get("applied_at")?,
        applied_by: row.try_get("applied_by")?,
        rollout: row.try_get("rollout")?,
        reviews: Vec::new(),
    })
}

fn decode_review(row: &PgRow) -> Result<ChangeReviewRecord> {
    let verdict: String = row.try_get("verdict")?;
    Ok(ChangeReviewRecord {
        reviewer_id: row.try_get("reviewer_id")?,
        reviewer: row.try_get("reviewer")?,
        verdict: Verdict::parse(&verdict).ok_or_else(|| corrupt("review verdict", &verdict))?,
        comment: row.try_get("comment")?,
        at: row.try_get("at")?,
    })
}

/// Fills in the reviews of `requests` in one query.
async fn with_reviews(
    conn: &mut PgConnection,
    project: &ProjectId,
    mut requests: Vec<ChangeRequestRecord>,
) -> Result<Vec<ChangeRequestRecord>> {
    if requests.is_empty() {
        return Ok(requests);
    }
    let ids: Vec<String> = requests.iter().map(|r| r.id.clone()).collect();
    let found = sqlx::query(
        "SELECT request_id, reviewer_id, reviewer, verdict, comment, at FROM change_reviews \
          WHERE project = $1 AND request_id = ANY($2) ORDER BY at, reviewer_id",
    )
    .bind(project.as_str())
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in &found {
        let request: String = row.try_get("request_id")?;
        let review = decode_review(row)?;
        if let Some(r) = requests.iter_mut().find(|r| r.id == request) {
            r.reviews.push(review);
        }
    }
    Ok(requests)
}

/// One request, by id or by the rollout that applied it; `lock` takes its row lock.
pub(crate) async fn get(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: Option<&str>,
    rollout: Option<&str>,
    lock: bool,
) -> Result<Option<ChangeRequestRecord>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM change_requests WHERE project = $1 \
           AND ($2::text IS NULL OR id = $2) AND ($3::text IS NULL OR rollout = $3) \
         ORDER BY id DESC LIMIT 1{lock}"
    ))
    .bind(project.as_str())
    .bind(id)
    .bind(rollout)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let found = with_reviews(conn, project, vec![decode(&row)?]).await?;
    Ok(found.into_iter().next())
}

pub(crate) async fn list(
    conn: &mut PgConnection,
    project: &ProjectId,
    filter: &ChangeRequestFilter,
    page: &PageRequest<String>,
) -> Result<Vec<ChangeRequestRecord>> {
    // The effective status: `expired` is an open request past its time, and `pending` or
    // `approved` only count while they are not. `$5` is the stored statuses, `$6` whether
    // to be expired (NULL: either).
    let (stored, expired): (Option<Vec<String>>, Option<bool>) = match filter.status {
        None => (None, None),
        Some(ChangeStatus::Expired) => {
            (Some(vec!["pending".into(), "approved".into()]), Some(true))
        }
        Some(s @ (ChangeStatus::Pending | ChangeStatus::Approved)) => {
            (Some(vec![s.as_str().into()]), Some(false))
        }
        Some(s) => (Some(vec![s.as_str().into()]), None),
    };
    let found = sqlx::query(&format!(
        "SELECT {COLS} FROM change_requests WHERE project = $1 \
           AND ($2::text IS NULL OR env = $2) AND ($3::text IS NULL OR name = $3) \
           AND ($4::text IS NULL OR id < $4) \
           AND ($5::text[] IS NULL OR status = ANY($5)) \
           AND ($6::bool IS NULL OR (expires_at <= $7) = $6) \
         ORDER BY id DESC LIMIT $8"
    ))
    .bind(project.as_str())
    .bind(filter.env.as_ref().map(|e| e.as_str()))
    .bind(filter.name.as_ref().map(|n| n.as_str()))
    .bind(page.after.as_deref())
    .bind(stored)
    .bind(expired)
    .bind(filter.now)
    .bind(i64::from(page.limit))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(decode)
    .collect::<Result<Vec<_>>>()?;
    with_reviews(conn, project, found).await
}

pub(crate) async fn insert(
    conn: &mut PgConnection,
    project: &ProjectId,
    r: &ChangeRequestRecord,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO change_requests (project, {COLS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(project.as_str())
    .bind(&r.id)
    .bind(r.env.as_str())
    .bind(r.name.as_str())
    .bind(r.version.get())
    .bind(r.digest.as_str())
    .bind(&r.reason)
    .bind(r.status.as_str())
    .bind(&r.requested_by)
    .bind(&r.author)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(r.applied_at)
    .bind(&r.applied_by)
    .bind(&r.rollout)
    .execute(conn)
    .await
    .map_err(|e| match unique_violation(&e) {
        Some(_) => {
            crate::error::already_exists(format!("change request '{}' already exists", r.id))
        }
        None => e.into(),
    })?;
    Ok(())
}

pub(crate) async fn update(
    conn: &mut PgConnection,
    project: &ProjectId,
    r: &ChangeRequestRecord,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE change_requests SET status = $3, applied_at = $4, applied_by = $5, rollout = $6 \
          WHERE project = $1 AND id = $2",
    )
    .bind(project.as_str())
    .bind(&r.id)
    .bind(r.status.as_str())
    .bind(r.applied_at)
    .bind(&r.applied_by)
    .bind(&r.rollout)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(format!("change request '{}' not found", r.id)));
    }
    Ok(())
}

pub(crate) async fn insert_review(
    conn: &mut PgConnection,
    project: &ProjectId,
    request_id: &str,
    review: &ChangeReviewRecord,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO change_reviews (project, request_id, reviewer_id, reviewer, verdict, comment, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(project.as_str())
    .bind(request_id)
    .bind(&review.reviewer_id)
    .bind(&review.reviewer)
    .bind(review.verdict.as_str())
    .bind(&review.comment)
    .bind(review.at)
    .execute(conn)
    .await
    .map_err(|e| match unique_violation(&e) {
        Some(_) => Error::Store(StoreError::Conflict {
            code: "already_reviewed",
            message: format!(
                "'{}' has already reviewed change request '{request_id}'",
                review.reviewer
            ),
        }),
        None => e.into(),
    })?;
    Ok(())
}

pub(crate) async fn update_environment(
    conn: &mut PgConnection,
    project: &ProjectId,
    env: &Environment,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE environments SET protected = $3, approvals_required = $4 \
          WHERE project = $1 AND name = $2",
    )
    .bind(project.as_str())
    .bind(env.name.as_str())
    .bind(env.protected)
    .bind(i64::from(env.approvals_required))
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(format!("environment '{}' not found", env.name)));
    }
    Ok(())
}
