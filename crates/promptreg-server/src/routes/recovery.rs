//! Export and import (disaster recovery): the server's signature over a snapshot, and
//! restoring a bundle into an empty project. `docs/recovery.md` is the runbook.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use promptreg_api::{Bundle, ExportSignRequest, ExportSignature, ImportView};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::AppJson;

/// The largest bundle `POST /v1/import` reads: a whole project (every version's content) in
/// one request, far above the ordinary body limit.
pub const MAX_IMPORT_BYTES: usize = 1 << 30;

/// Signs an export: a DSSE envelope over the snapshot's digest, naming this server's ledger
/// root at the snapshot's tree size (admin).
#[utoipa::path(post, path = "/v1/export/sign", tag = "recovery", request_body = ExportSignRequest,
    responses((status = 200, body = ExportSignature), crate::responses::Auth, crate::responses::BadBody))]
pub async fn sign_export(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<ExportSignRequest>,
) -> Result<Json<ExportSignature>, ApiError> {
    let signed = state
        .registry
        .sign_export(&caller, &body.digest, body.tree_size)?;
    Ok(Json(ExportSignature {
        signature: signed.envelope,
        key_id: signed.key_id,
    }))
}

/// Restores a bundle into the caller's project, which must be empty (admin). The bundle is
/// verified first; a bundle that does not verify is 422 `invalid_bundle` naming the check, a
/// project that is not empty 409 `not_empty`; either way nothing changes.
#[utoipa::path(post, path = "/v1/import", tag = "recovery", request_body = Bundle,
    responses((status = 201, body = ImportView), crate::responses::Auth, crate::responses::BadBody,
        crate::responses::Conflict))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(bundle): AppJson<Bundle>,
) -> Result<(StatusCode, Json<ImportView>), ApiError> {
    let done = state.registry.import(&caller, &bundle).await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportView {
            origin: done.origin,
            tree_size: done.tree_size,
            root_hash: B64.encode(done.root),
            versions: done.versions,
            deployments: done.deployments,
            environments: done.environments,
            keys: done.keys,
            imported_at: done.at,
        }),
    ))
}
