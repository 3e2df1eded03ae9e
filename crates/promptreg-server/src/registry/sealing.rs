//! Encryption at rest in the service layer: a version's content is sealed before the store
//! sees it ([`Registry::seal`]) and opened when read back ([`Registry::open`]), once per
//! version into the resolve index, so resolving never decrypts. A version that does not open
//! (a ciphertext or wrapped key changed or moved between rows, a KEK the server does not hold)
//! is an integrity finding, never served. And the KEK rotation, which rewraps every data key
//! without touching a ciphertext.

use std::sync::Arc;

use promptreg_core::integrity::seal::Binding;
use promptreg_core::{EnvName, ProjectId, PromptName, Version};
use promptreg_store::{Reseal, StoredContent, StoredVersion, VersionKey, VersionRecord};

use super::{Action, Caller, Registry, Resource, ServiceError, ServiceResult};
use crate::integrity::{Finding, Keyring};

/// Versions read (and rewrapped) per batch during a rotation.
const BATCH: u32 = 500;
/// Passes over every version at most: a pass that changes nothing ends the rotation (a
/// version sealed by another replica with the old KEK while a pass ran is found by the next).
const PASSES: usize = 3;

/// What a KEK rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekRotation {
    /// The new KEK's id.
    pub kek_id: String,
    /// Data keys rewrapped (ciphertexts untouched).
    pub rewrapped: u64,
    /// Versions written before encryption at rest, sealed now.
    pub sealed: u64,
    /// KEKs retired (their files renamed `.retired`): none when a version could not be
    /// rewrapped, so that nothing becomes unreadable because of the rotation.
    pub retired: Vec<String>,
    /// Versions that could not be opened, one line each (integrity errors).
    pub unreadable: Vec<String>,
}

/// 410 `pruned` for a version whose content the lifecycle rules removed.
pub(crate) fn pruned(
    name: &PromptName,
    version: Version,
    at: chrono::DateTime<chrono::Utc>,
) -> ServiceError {
    ServiceError::Gone {
        code: "pruned",
        message: format!(
            "prompt '{name}' version {version} was pruned at {} by the lifecycle rules: its \
             content is gone (its digest, signature and ledger leaf remain)",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    }
}

/// The associated data of a version's row.
fn binding<'a, C>(project: &'a ProjectId, v: &'a VersionRecord<C>) -> Binding<'a> {
    Binding {
        project,
        name: &v.name,
        version: v.version,
        digest: &v.digest,
    }
}

impl Registry {
    /// Replaces the keyring (the default is an ephemeral KEK, for tests).
    pub fn with_keyring(mut self, keyring: Arc<Keyring>) -> Self {
        self.keyring = keyring;
        self
    }

    /// A new version as the store keeps it: its content sealed under a fresh data key.
    pub(crate) fn seal(
        &self,
        project: &ProjectId,
        v: &VersionRecord,
    ) -> ServiceResult<StoredVersion> {
        if !self.options.seal_content {
            return Ok(v
                .clone()
                .with_content(StoredContent::Plain(v.content.clone())));
        }
        let sealed = self
            .keyring
            .seal(&binding(project, v), &v.content)
            .map_err(|e| ServiceError::Internal(Box::new(e)))?;
        let prompt_type = v.content.prompt_type();
        Ok(v.clone().with_content(StoredContent::Sealed {
            prompt_type,
            sealed,
        }))
    }

    /// A stored version with its content opened (a plaintext row as it is); the error says
    /// why it does not open, naming the version.
    pub(crate) fn open(
        &self,
        project: &ProjectId,
        v: StoredVersion,
    ) -> Result<VersionRecord, String> {
        let content = match &v.content {
            StoredContent::Plain(c) => c.clone(),
            StoredContent::Sealed { sealed, .. } => self
                .keyring
                .unseal(&binding(project, &v), sealed)
                .map_err(|e| format!("version {} cannot be read: {e}", v.version))?,
            StoredContent::Pruned { pruned_at, .. } => {
                return Err(format!(
                    "version {} was pruned at {pruned_at}: its content is gone",
                    v.version
                ))
            }
        };
        Ok(v.with_content(content))
    }

    /// A listed version with its content opened (as [`StoredContent::Plain`]), or as it is
    /// when pruned (a tombstone lists without content); one that does not open is answered
    /// as [`Registry::open_or_report`] does.
    pub(crate) fn open_listed(
        &self,
        project: &ProjectId,
        v: StoredVersion,
    ) -> ServiceResult<StoredVersion> {
        if let StoredContent::Pruned { .. } = v.content {
            return Ok(v);
        }
        let opened = self.open_or_report(project, None, v)?;
        let content = StoredContent::Plain(opened.content.clone());
        Ok(opened.with_content(content))
    }

    /// [`Registry::open`] for a read or a write that needs the content: a pruned version is
    /// 410 `pruned`; a version that does not open is reported (`/readyz`, `/metrics`, the
    /// log) and answered 409 `integrity_error` naming the prompt and version, so that a
    /// client (`promptreg verify`) can say which row it concerns.
    pub(crate) fn open_or_report(
        &self,
        project: &ProjectId,
        env: Option<&EnvName>,
        v: StoredVersion,
    ) -> ServiceResult<VersionRecord> {
        if let Some(pruned_at) = v.content.pruned_at() {
            return Err(pruned(&v.name, v.version, pruned_at));
        }
        let name = v.name.clone();
        self.open(project, v).map_err(|message| {
            self.report(Finding {
                project: project.clone(),
                env: env.cloned(),
                name: Some(name.clone()),
                message: message.clone(),
            });
            ServiceError::conflict(
                "integrity_error",
                format!(
                    "prompt '{name}' {message}; it was changed in the database and is not \
                     served"
                ),
            )
        })
    }

    /// At start-up: refuses a KEK file that holds none of the KEKs the stored data keys are
    /// wrapped by (a wrong `--kek-file`), rather than starting and serving nothing. Looks at
    /// the first versions in key order; one unknown KEK among known ones is left to the
    /// audit (an integrity finding about that version).
    pub async fn check_keyring(&self) -> Result<(), String> {
        let page = self
            .store
            .all_versions(None, BATCH)
            .await
            .map_err(|e| format!("reading versions: {e}"))?;
        let mut unknown = Vec::new();
        for (_, v) in &page {
            if let StoredContent::Sealed { sealed, .. } = &v.content {
                if self.keyring.holds(&sealed.kek_id) {
                    return Ok(());
                }
                if !unknown.contains(&sealed.kek_id) {
                    unknown.push(sealed.kek_id.clone());
                }
            }
        }
        if unknown.is_empty() {
            return Ok(());
        }
        let file = self.keyring.path().map_or_else(
            || "the key-encryption key".to_owned(),
            |p| format!("key-encryption key file {}", p.display()),
        );
        Err(format!(
            "{file} holds KEK {}, but the stored data keys are wrapped by KEK {}: a wrong key \
             file? (a retired `<file>.<id>.retired` beside it is loaded again once renamed \
             `<file>.<id>.previous`)",
            self.keyring.current_id(),
            unknown.join(", ")
        ))
    }

    /// Rotates the key-encryption key: a new KEK becomes current, every data key is rewrapped
    /// by it (and every version still in plaintext is sealed), then the old KEKs are retired.
    pub async fn rotate_kek(&self, caller: &Caller) -> ServiceResult<KekRotation> {
        self.check(
            caller,
            Action::RotateKeys,
            Resource::Project(&caller.project),
        )?;
        let keyring = self.keyring.clone();
        let _one_at_a_time = keyring.rotating().await;
        let (kek_id, older) = keyring
            .begin_rotation()
            .map_err(|e| ServiceError::Internal(Box::new(e)))?;
        let mut done = KekRotation {
            kek_id,
            rewrapped: 0,
            sealed: 0,
            retired: Vec::new(),
            unreadable: Vec::new(),
        };
        let mut settled = false;
        for _ in 0..PASSES {
            let pass = self.rewrap_pass().await?;
            done.rewrapped += pass.rewrapped;
            done.sealed += pass.sealed;
            done.unreadable = pass.unreadable;
            if pass.rewrapped + pass.sealed == 0 {
                settled = true;
                break;
            }
        }
        if settled && done.unreadable.is_empty() {
            keyring
                .retire(&older)
                .map_err(|e| ServiceError::Internal(Box::new(e)))?;
            done.retired = older;
        }
        tracing::info!(kek_id = %done.kek_id, rewrapped = done.rewrapped, sealed = done.sealed,
            retired = ?done.retired, unreadable = done.unreadable.len(), "rotated the key-encryption key");
        Ok(done)
    }

    /// One walk over every version: rewraps what the current KEK did not wrap and seals
    /// plaintext rows, a batch at a time.
    async fn rewrap_pass(&self) -> ServiceResult<KekRotation> {
        let mut pass = KekRotation {
            kek_id: String::new(),
            rewrapped: 0,
            sealed: 0,
            retired: Vec::new(),
            unreadable: Vec::new(),
        };
        let mut after: Option<VersionKey> = None;
        loop {
            let page = self.store.all_versions(after.as_ref(), BATCH).await?;
            let mut batch = Vec::new();
            for (project, v) in &page {
                let row = || {
                    format!(
                        "project '{project}', prompt '{}', version {}",
                        v.name, v.version
                    )
                };
                let planned = match &v.content {
                    // Nothing to rewrap: its data key is gone.
                    StoredContent::Pruned { .. } => continue,
                    StoredContent::Plain(c) if c.digest() != v.digest => {
                        pass.unreadable.push(format!(
                            "{}: its plaintext content does not hash to its digest; left as it is",
                            row()
                        ));
                        continue;
                    }
                    StoredContent::Plain(c) => self
                        .keyring
                        .seal(&binding(project, v), c)
                        .map(|s| Some((None, s))),
                    StoredContent::Sealed { sealed, .. } => self
                        .keyring
                        .rewrap(&binding(project, v), sealed)
                        .map(|s| s.map(|s| (Some(sealed.kek_id.clone()), s))),
                };
                match planned {
                    Ok(None) => {}
                    Ok(Some((from_kek, sealed))) => {
                        match from_kek {
                            Some(_) => pass.rewrapped += 1,
                            None => pass.sealed += 1,
                        }
                        batch.push(Reseal {
                            project: project.clone(),
                            name: v.name.clone(),
                            version: v.version,
                            from_kek,
                            sealed,
                        });
                    }
                    Err(e) => pass.unreadable.push(format!("{}: {e}", row())),
                }
            }
            if !batch.is_empty() {
                self.store.reseal(&batch).await?;
            }
            let full = page.len() == BATCH as usize;
            after = page
                .last()
                .map(|(p, v)| (p.clone(), v.name.clone(), v.version));
            if !full {
                return Ok(pass);
            }
        }
    }
}
