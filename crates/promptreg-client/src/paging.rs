//! Paged lists: [`PageRequest`] selects one page, [`all_pages`] walks them all.

use std::future::Future;

use promptreg_api::Page;

use crate::ClientError;

/// The largest page the server serves.
pub const MAX_LIMIT: u32 = 500;

/// `?limit=&cursor=` of a list call. The default asks for the server's default page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, 1-500 (the server refuses anything else with 400).
    pub limit: Option<u32>,
    /// A `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The first page with `limit` items at most.
    pub fn first(limit: u32) -> Self {
        Self {
            limit: Some(limit),
            cursor: None,
        }
    }

    /// The page after a previous one.
    pub fn after(limit: Option<u32>, cursor: impl Into<String>) -> Self {
        Self {
            limit,
            cursor: Some(cursor.into()),
        }
    }

    /// Appends `limit` and `cursor` to a query.
    pub(crate) fn append_to(&self, query: &mut Vec<(&'static str, String)>) {
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            query.push(("cursor", cursor.clone()));
        }
    }
}

/// Calls `fetch` with [`MAX_LIMIT`]-sized page requests, following `next_cursor` until the
/// last page, and returns every item in order.
///
/// ```no_run
/// # async fn demo(client: &promptreg_client::Client) -> Result<(), promptreg_client::ClientError> {
/// use promptreg_client::{all_pages, PromptFilter};
/// let filter = PromptFilter::default();
/// let prompts = all_pages(|page| client.list_prompts(&filter, page)).await?;
/// # let _ = prompts; Ok(()) }
/// ```
pub async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, ClientError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, ClientError>>,
{
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = fetch(PageRequest {
            limit: Some(MAX_LIMIT),
            cursor: cursor.clone(),
        })
        .await?;
        items.extend(page.items);
        match page.next_cursor {
            // A server that hands back the cursor it was given would loop forever.
            Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                return Err(ClientError::Decode {
                    status: 200,
                    message: format!("the server repeated cursor {next:?}"),
                })
            }
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn walks_every_page_in_order() {
        let pages = [
            (vec![1, 2], Some("a")),
            (vec![3], Some("b")),
            (vec![4], None),
        ];
        let mut seen = Vec::new();
        let items = all_pages(|req| {
            seen.push(req.cursor.clone());
            let i = match req.cursor.as_deref() {
                None => 0,
                Some("a") => 1,
                _ => 2,
            };
            let (items, next) = pages[i].clone();
            async move {
                Ok(Page {
                    items,
                    next_cursor: next.map(str::to_owned),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(items, vec![1, 2, 3, 4]);
        assert_eq!(seen, vec![None, Some("a".into()), Some("b".into())]);
    }

    #[tokio::test]
    async fn a_repeated_cursor_is_an_error_not_a_loop() {
        let err = all_pages(|_| async {
            Ok(Page {
                items: vec![1],
                next_cursor: Some("same".to_owned()),
            })
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ClientError::Decode { .. }), "{err}");
    }
}
