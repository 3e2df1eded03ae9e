//! How database failures become [`StoreError`]s.
//!
//! Inside the crate every query returns [`Result`], whose error converts from `sqlx::Error`
//! with `?`; the [`Store`](promptreg_store::Store) methods turn it into a `StoreError` once.

use std::fmt;

use promptreg_store::StoreError;

/// The crate-internal result.
pub(crate) type Result<T> = std::result::Result<T, Error>;

/// A store error, or a database error not classified yet.
#[derive(Debug)]
pub(crate) enum Error {
    /// Already a domain answer (not found, conflict).
    Store(StoreError),
    /// Straight from sqlx.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Db(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => e,
            Error::Db(sqlx::Error::RowNotFound) => StoreError::NotFound("not found".into()),
            Error::Db(e) if unique_violation(&e).is_some() => StoreError::Conflict {
                code: "already_exists",
                message: "already exists".into(),
            },
            Error::Db(e) if unreachable(&e) => StoreError::Unavailable(Box::new(e)),
            Error::Db(e) => StoreError::other(e),
        }
    }
}

/// Whether `e` says the database cannot be reached rather than that a statement failed: no
/// connection within the pool's acquire timeout (the server is down or refuses connections),
/// a connection that broke, or the server shutting down or starting up (SQLSTATE classes 08,
/// connection exception, and 57P, operator intervention: `57P01 admin_shutdown` is what a
/// restart sends to every open session).
pub(crate) fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// The constraint a unique violation broke, if `e` is one.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .filter(|d| d.is_unique_violation())
        .map(|d| d.constraint().unwrap_or_default().to_owned())
}

/// `NotFound` naming the missing object.
pub(crate) fn not_found(message: impl Into<String>) -> Error {
    Error::Store(StoreError::NotFound(message.into()))
}

/// `Conflict { code: "already_exists" }` naming the object.
pub(crate) fn already_exists(message: impl Into<String>) -> Error {
    Error::Store(StoreError::Conflict {
        code: "already_exists",
        message: message.into(),
    })
}

/// A stored value that no longer parses: the schema or the domain rules changed under it.
#[derive(Debug, thiserror::Error)]
#[error("corrupt {what} in the database: {detail}")]
pub(crate) struct Corrupt {
    what: &'static str,
    detail: String,
}

/// An internal error for a stored `what` that does not parse.
pub(crate) fn corrupt(what: &'static str, detail: impl fmt::Display) -> Error {
    Error::Store(StoreError::other(Corrupt {
        what,
        detail: detail.to_string(),
    }))
}

/// An internal error (serialisation and the like) that is nobody's input fault.
pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Store(StoreError::other(e))
}
