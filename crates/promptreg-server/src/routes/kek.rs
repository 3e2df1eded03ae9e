//! `POST /v1/keys/kek/rotate`: the key-encryption key rotation (admin).

use axum::extract::State;
use axum::Json;
use promptreg_api::KekRotationView;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Rotates the key-encryption key: a new KEK wraps every data key (ciphertexts untouched;
/// versions still in plaintext are sealed), then the old KEKs are retired. Replicas sharing
/// the database must share the KEK file.
#[utoipa::path(post, path = "/v1/keys/kek/rotate", tag = "ledger",
    responses((status = 200, body = KekRotationView), crate::responses::Auth))]
pub async fn rotate_kek(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<KekRotationView>, ApiError> {
    let done = state.registry.rotate_kek(&caller).await?;
    Ok(Json(KekRotationView {
        kek_id: done.kek_id,
        rewrapped: done.rewrapped,
        sealed: done.sealed,
        retired: done.retired,
        unreadable: done.unreadable,
    }))
}
