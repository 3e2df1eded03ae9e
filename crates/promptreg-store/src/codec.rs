//! The content columns of a version row, mapped once for every backend: a sealed row keeps
//! its ciphertext, nonce, wrapped data key, KEK id and algorithm in columns of their own and
//! no plaintext; a row written before encryption at rest keeps its content object in the
//! `content` column and nothing in the others.

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
}

/// The columns of stored content.
pub fn to_columns(content: &StoredContent) -> ContentColumns<'_> {
    match content {
        StoredContent::Plain(c) => ContentColumns {
            prompt_type: c.prompt_type().as_str(),
            plain: Some(c.to_value()),
            sealed: None,
        },
        StoredContent::Sealed {
            prompt_type,
            sealed,
        } => ContentColumns {
            prompt_type: prompt_type.as_str(),
            plain: None,
            sealed: Some(sealed),
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
/// a sealed row). The error names what does not decode.
pub fn from_columns(
    prompt_type: &str,
    plain: Option<serde_json::Value>,
    sealed: SealedColumns,
) -> Result<StoredContent, String> {
    let prompt_type = match prompt_type {
        "text" => PromptType::Text,
        "chat" => PromptType::Chat,
        other => return Err(format!("prompt_type {other:?} is not text or chat")),
    };
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
