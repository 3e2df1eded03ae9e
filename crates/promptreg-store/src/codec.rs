//! The content columns of a version row, mapped once for every backend: a sealed row keeps
//! its ciphertext, nonce, wrapped data key, KEK id and algorithm in columns of their own and
//! no plaintext; a row written before encryption at rest keeps its content object in the
//! `content` column and nothing in the others; a pruned row keeps none of them, only
//! `pruned_at`.

use chrono::{DateTime, Utc};
use promptreg_core::integrity::seal::SealedContent;
use promptreg_core::{PromptContent, PromptType};

use crate::records::StoredContent;

/// What a backend writes for a version's content.
#[derive(Debug)]
pub struct ContentColumns<'a> {
    /// `text` or `chat` (always plaintext).
    pub prompt_type: &'static str,
    /// The content object, only for a plaintext row.
    pub plain: Option<serde_json::Value>,
    /// The sealing, for a sealed row.
    pub sealed: Option<&'a SealedContent>,
    /// When it was pruned, for a tombstone.
    pub pruned_at: Option<DateTime<Utc>>,
}

/// The columns of stored content.
pub fn to_columns(content: &StoredContent) -> ContentColumns<'_> {
    match content {
        StoredContent::Plain(c) => ContentColumns {
            prompt_type: c.prompt_type().as_str(),
            plain: Some(c.to_value()),
            sealed: None,
            pruned_at: None,
        },
        StoredContent::Sealed {
            prompt_type,
            sealed,
        } => ContentColumns {
            prompt_type: prompt_type.as_str(),
            plain: None,
            sealed: Some(sealed),
            pruned_at: None,
        },
        StoredContent::Pruned {
            prompt_type,
            pruned_at,
        } => ContentColumns {
            prompt_type: prompt_type.as_str(),
            plain: None,
            sealed: None,
            pruned_at: Some(*pruned_at),
        },
    }
}

/// The sealing columns as read (all `None` in a plaintext row).
#[derive(Debug, Default)]
pub struct SealedColumns {
    /// `sealed_alg`.
    pub alg: Option<String>,
    /// `kek_id`.
    pub kek_id: Option<String>,
    /// `wrapped_key`.
    pub wrapped_key: Option<Vec<u8>>,
    /// `nonce`.
    pub nonce: Option<Vec<u8>>,
    /// `ciphertext`.
    pub ciphertext: Option<Vec<u8>>,
}

/// Stored content from a row's columns; `plain` is the `content` column (SQL or JSON null in
/// a sealed or pruned row), `pruned_at` the column of that name. The error names what does
/// not decode.
pub fn from_columns(
    prompt_type: &str,
    plain: Option<serde_json::Value>,
    sealed: SealedColumns,
    pruned_at: Option<DateTime<Utc>>,
) -> Result<StoredContent, String> {
    let prompt_type = match prompt_type {
        "text" => PromptType::Text,
        "chat" => PromptType::Chat,
        other => return Err(format!("prompt_type {other:?} is not text or chat")),
    };
    if let Some(pruned_at) = pruned_at {
        let empty = plain.as_ref().is_none_or(serde_json::Value::is_null)
            && sealed.alg.is_none()
            && sealed.kek_id.is_none()
            && sealed.wrapped_key.is_none()
            && sealed.nonce.is_none()
            && sealed.ciphertext.is_none();
        if !empty {
            return Err("the row is pruned but still holds content".into());
        }
        return Ok(StoredContent::Pruned {
            prompt_type,
            pruned_at,
        });
    }
    match sealed {
        SealedColumns {
            alg: Some(alg),
            kek_id: Some(kek_id),
            wrapped_key: Some(wrapped_key),
            nonce: Some(nonce),
            ciphertext: Some(ciphertext),
        } => Ok(StoredContent::Sealed {
            prompt_type,
            sealed: SealedContent {
                alg,
                kek_id,
                wrapped_key,
                nonce,
                ciphertext,
            },
        }),
        SealedColumns {
            alg: None,
            kek_id: None,
            wrapped_key: None,
            nonce: None,
            ciphertext: None,
        } => {
            let value = plain
                .filter(|v| !v.is_null())
                .ok_or("content is empty and the row is not sealed")?;
            PromptContent::from_stored(&value)
                .map(StoredContent::Plain)
                .map_err(|e| e.to_string())
        }
        _ => Err("some sealing columns are empty: the row is half sealed".into()),
    }
}
