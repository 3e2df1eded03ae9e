//! Paging: `?limit=` (1-500, default 50) and opaque cursors the server issues.
//!
//! A cursor is base64url of `<list kind>:<key>`; a cursor that does not decode, or was issued
//! for another list, is a 400.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use promptreg_api::{Page, PageParams};
use promptreg_store::PageRequest;

use crate::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 500;

/// Which list a cursor belongs to.
#[derive(Debug, Clone, Copy)]
pub enum ListKind {
    /// Versions of a prompt.
    Versions,
    /// Prompts.
    Prompts,
    /// Deployment history.
    History,
    /// Environment catalog.
    Catalog,
    /// Environments.
    Environments,
    /// Tokens.
    Tokens,
    /// Rollouts.
    Rollouts,
    /// A webhook's deliveries.
    Deliveries,
    /// The audit log.
    Audit,
    /// Change requests.
    ChangeRequests,
}

impl ListKind {
    fn tag(self) -> &'static str {
        match self {
            ListKind::Versions => "v",
            ListKind::Prompts => "p",
            ListKind::History => "h",
            ListKind::Catalog => "c",
            ListKind::Environments => "e",
            ListKind::Tokens => "t",
            ListKind::Rollouts => "r",
            ListKind::Deliveries => "d",
            ListKind::Audit => "a",
            ListKind::ChangeRequests => "q",
        }
    }
}

/// Parses limit and cursor into a store page request (asking one extra row).
pub fn page_request<K>(
    params: &PageParams,
    kind: ListKind,
    parse_key: impl Fn(&str) -> Option<K>,
) -> Result<(u32, PageRequest<K>), ApiError> {
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit must be an integer from 1 to {MAX_LIMIT}, got {s:?}"
                ))
            })?,
    };
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode(c, kind).and_then(|k| parse_key(&k)).ok_or_else(|| {
            ApiError::bad_request("cursor was not issued by this server for this list")
        })?),
    };
    Ok((
        limit,
        PageRequest {
            limit: limit + 1,
            after,
        },
    ))
}

fn decode(cursor: &str, kind: ListKind) -> Option<String> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    raw.strip_prefix(kind.tag())?
        .strip_prefix(':')
        .map(str::to_owned)
}

/// Builds a page from `limit + 1` fetched rows: the extra row only says a next page exists.
pub fn page<R, T>(
    mut rows: Vec<R>,
    limit: u32,
    kind: ListKind,
    key: impl Fn(&R) -> String,
    view: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last()
            .map(|r| URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.tag(), key(r))))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(view).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: Option<&str>, cursor: Option<&str>) -> PageParams {
        PageParams {
            limit: limit.map(Into::into),
            cursor: cursor.map(Into::into),
        }
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        let num = |s: &str| s.parse::<i64>().ok();
        assert_eq!(
            page_request(&params(None, None), ListKind::History, num)
                .unwrap()
                .0,
            50
        );
        for bad in ["0", "501", "x", "-1"] {
            assert!(page_request(&params(Some(bad), None), ListKind::History, num).is_err());
        }
        let p = page(
            vec![5i64, 4, 3],
            2,
            ListKind::History,
            |r| r.to_string(),
            |r| r,
        );
        assert_eq!(p.items, [5, 4]);
        let c = p.next_cursor.unwrap();
        assert_eq!(
            page_request(&params(None, Some(&c)), ListKind::History, num)
                .unwrap()
                .1
                .after,
            Some(4)
        );
        assert!(
            page_request(&params(None, Some(&c)), ListKind::Versions, num).is_err(),
            "cursor of another list"
        );
        assert!(page_request(&params(None, Some("garbage!")), ListKind::History, num).is_err());
    }
}
