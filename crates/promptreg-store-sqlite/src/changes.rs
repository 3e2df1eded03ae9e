//! The SQL of change requests and their reviews: the unit-of-work steps and the reads.
//!
//! SQLite has no row locks: a unit of work runs under `BEGIN IMMEDIATE` on the single writer
//! connection, so "locking" a request is reading it inside that transaction.

use promptreg_core::change::{ChangeStatus, Verdict};
use promptreg_core::{Digest, ProjectId};
use promptreg_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{db_err, rows, ts};

const COLS: &str = "id, env, name, version, digest, reason, status, requested_by, author, \
    created_at, expires_at, applied_at, applied_by, rollout";

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored change request {col} does not decode: {e}").into())
}

fn text(row: &SqliteRow, col: &str) -> StoreResult<String> {
    row.try_get(col).map_err(StoreError::other)
}

fn decode(row: &SqliteRow) -> StoreResult<ChangeRequestRecord> {
    let status = text(row, "status")?;
    Ok(ChangeRequestRecord {
        id: text(row, "id")?,
        env: rows::env_name(row, "env")?,
        name: rows::prompt_name(row, "name")?,
        version: rows::version_col(row, "version")?,
        digest: Digest::parse(&text(row, "digest")?).map_err(|e| corrupt("digest", e))?,
        reason: text(row, "reason")?,
        status: ChangeStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        requested_by: text(row, "requested_by")?,
        author: text(row, "author")?,
        created_at: rows::time(row, "created_at")?,
        expires_at: rows::time(row, "expires_at")?,
        applied_at: rows::opt_time(row, "applied_at")?,
        applied_by: row.try_get("applied_by").map_err(StoreError::other)?,
        rollout: row.try_get("rollout").map_err(StoreError::other)?,
        reviews: Vec::new(),
    })
}

fn decode_review(row: &SqliteRow) -> StoreResult<ChangeReviewRecord> {
    let verdict = text(row, "verdict")?;
    Ok(ChangeReviewRecord {
        reviewer_id: text(row, "reviewer_id")?,
        reviewer: text(row, "reviewer")?,
        verdict: Verdict::parse(&verdict).ok_or_else(|| corrupt("verdict", &verdict))?,
        comment: row.try_get("comment").map_err(StoreError::other)?,
        at: rows::time(row, "at")?,
    })
}

/// Fills in the reviews of `requests`.
async fn with_reviews(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    mut requests: Vec<ChangeRequestRecord>,
) -> StoreResult<Vec<ChangeRequestRecord>> {
    for r in &mut requests {
        r.reviews = sqlx::query(
            "SELECT reviewer_id, reviewer, verdict, comment, at FROM change_reviews
              WHERE project = ? AND request_id = ? ORDER BY at, reviewer_id",
        )
        .bind(project.as_str())
        .bind(&r.id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(decode_review)
        .collect::<StoreResult<_>>()?;
    }
    Ok(requests)
}

/// One request, by id or by the rollout that applied it.
pub(crate) async fn get(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    id: Option<&str>,
    rollout: Option<&str>,
) -> StoreResult<Option<ChangeRequestRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM change_requests WHERE project = ?
           AND (? IS NULL OR id = ?) AND (? IS NULL OR rollout = ?)
         ORDER BY id DESC LIMIT 1"
    ))
    .bind(project.as_str())
    .bind(id)
    .bind(id)
    .bind(rollout)
    .bind(rollout)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let Some(row) = row else { return Ok(None) };
    let found = with_reviews(conn, project, vec![decode(&row)?]).await?;
    Ok(found.into_iter().next())
}

pub(crate) async fn list(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    filter: &ChangeRequestFilter,
    page: &PageRequest<String>,
) -> StoreResult<Vec<ChangeRequestRecord>> {
    // The effective status: `expired` is an open request past its time, and `pending` or
    // `approved` only count while they are not.
    let (stored, expired): (Vec<&str>, Option<bool>) = match filter.status {
        None => (vec![], None),
        Some(ChangeStatus::Expired) => (vec!["pending", "approved"], Some(true)),
        Some(s @ (ChangeStatus::Pending | ChangeStatus::Approved)) => {
            (vec![s.as_str()], Some(false))
        }
        Some(s) => (vec![s.as_str()], None),
    };
    let status_sql = match stored.len() {
        0 => String::new(),
        1 => format!(" AND status = '{}'", stored[0]),
        _ => format!(" AND status IN ('{}')", stored.join("', '")),
    };
    let expiry_sql = match expired {
        None => "",
        Some(true) => " AND expires_at <= ?",
        Some(false) => " AND expires_at > ?",
    };
    let sql = format!(
        "SELECT {COLS} FROM change_requests WHERE project = ?
           AND (? IS NULL OR env = ?) AND (? IS NULL OR name = ?) AND (? IS NULL OR id < ?)
           {status_sql}{expiry_sql}
         ORDER BY id DESC LIMIT ?"
    );
    let env = filter.env.as_ref().map(|e| e.as_str());
    let name = filter.name.as_ref().map(|n| n.as_str());
    let mut query = sqlx::query(&sql)
        .bind(project.as_str())
        .bind(env)
        .bind(env)
        .bind(name)
        .bind(name)
        .bind(page.after.as_deref())
        .bind(page.after.as_deref());
    if expired.is_some() {
        query = query.bind(ts(filter.now));
    }
    let found = query
        .bind(i64::from(page.limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(decode)
        .collect::<StoreResult<Vec<_>>>()?;
    with_reviews(conn, project, found).await
}

pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    r: &ChangeRequestRecord,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO change_requests (project, {COLS})
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
    .bind(ts(r.created_at))
    .bind(ts(r.expires_at))
    .bind(r.applied_at.map(ts))
    .bind(&r.applied_by)
    .bind(&r.rollout)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn update(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    r: &ChangeRequestRecord,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE change_requests SET status = ?, applied_at = ?, applied_by = ?, rollout = ?
          WHERE project = ? AND id = ?",
    )
    .bind(r.status.as_str())
    .bind(r.applied_at.map(ts))
    .bind(&r.applied_by)
    .bind(&r.rollout)
    .bind(project.as_str())
    .bind(&r.id)
    .execute(conn)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "change request '{}' not found",
            r.id
        )));
    }
    Ok(())
}

pub(crate) async fn insert_review(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    request_id: &str,
    review: &ChangeReviewRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO change_reviews (project, request_id, reviewer_id, reviewer, verdict, comment, at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(project.as_str())
    .bind(request_id)
    .bind(&review.reviewer_id)
    .bind(&review.reviewer)
    .bind(review.verdict.as_str())
    .bind(&review.comment)
    .bind(ts(review.at))
    .execute(conn)
    .await
    .map_err(|e| match db_err(e) {
        StoreError::Conflict { .. } => already_reviewed(request_id, review),
        other => other,
    })?;
    Ok(())
}

fn already_reviewed(request_id: &str, review: &ChangeReviewRecord) -> StoreError {
    StoreError::Conflict {
        code: "already_reviewed",
        message: format!(
            "'{}' has already reviewed change request '{request_id}'",
            review.reviewer
        ),
    }
}

pub(crate) async fn update_environment(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    env: &Environment,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE environments SET protected = ?, approvals_required = ? WHERE project = ? AND name = ?",
    )
    .bind(env.protected)
    .bind(i64::from(env.approvals_required))
    .bind(project.as_str())
    .bind(env.name.as_str())
    .execute(conn)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "environment '{}' not found",
            env.name
        )));
    }
    Ok(())
}
