//! The key-encryption key (KEK) that wraps every version's data key, held in a file: 32 random
//! bytes in standard base64 on one line (`head -c 32 /dev/urandom | base64` makes one),
//! generated into the data directory with mode 0600 on first start, or the operator's file.
//!
//! [`Keyring`] holds the current KEK (which wraps new data keys) and older ones by id, so that
//! a rotation can rewrap data keys while both are readable. On disk, a rotation moves the old
//! file aside as `<file>.<id>.previous` (loaded at start-up beside `<file>`) and writes the new
//! one; once every data key is rewrapped the old file becomes `<file>.<id>.retired`, which is
//! not loaded any more and may be deleted. Replicas that share a database must share the file:
//! a keyring re-reads it when it changes on disk and when it meets a KEK id it does not hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use parking_lot::{Mutex, RwLock};
use promptreg_core::integrity::seal::{
    self, Binding, DataKey, KeyEncryptionKey, SealError, SealedContent, KEY_LEN, NONCE_LEN,
};
use promptreg_core::PromptContent;
use rand::RngCore;
use zeroize::Zeroizing;

/// The file name of the generated KEK in the data directory.
pub const DEFAULT_KEK_FILE: &str = "kek";

/// Why a KEK file could not be loaded or written (at start-up: the server does not start).
#[derive(Debug, thiserror::Error)]
pub enum KekFileError {
    /// The file is missing or unreadable.
    #[error("key-encryption key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold a KEK.
    #[error("key-encryption key file {path}: not 32 bytes in standard base64 on one line ({message}); create one with `head -c 32 /dev/urandom | base64`")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A new or moved file could not be written.
    #[error("key-encryption key file {path}: cannot write it: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A KEK held in memory (read from its file): AES-256-GCM key wrap with random nonces.
pub struct FileKek {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl FileKek {
    /// A new random KEK.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(&mut *key);
        Self::from_key(key)
    }

    fn from_key(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self {
            id: seal::kek_id(&key),
            key,
        }
    }

    /// Parses the text of a KEK file.
    fn parse(path: &Path, text: &str) -> Result<Self, KekFileError> {
        let malformed = |message: String| KekFileError::Malformed {
            path: path.to_owned(),
            message,
        };
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| malformed(e.to_string()))?,
        );
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| malformed(format!("{} bytes", bytes.len())))?;
        Ok(Self::from_key(Zeroizing::new(key)))
    }

    fn text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(*self.key)
        ))
    }
}

impl KeyEncryptionKey for FileKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<Vec<u8>, SealError> {
        seal::wrap_key(&self.key, random(), key, aad)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, SealError> {
        seal::unwrap_key(&self.key, &self.id, wrapped, aad)
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// The KEKs in memory: the current one and every older one still readable, by id.
struct Ring {
    current: Arc<dyn KeyEncryptionKey>,
    known: HashMap<String, Arc<dyn KeyEncryptionKey>>,
}

impl Ring {
    fn new(current: Arc<dyn KeyEncryptionKey>, older: Vec<Arc<dyn KeyEncryptionKey>>) -> Self {
        let mut known: HashMap<_, _> = older.into_iter().map(|k| (k.id().to_owned(), k)).collect();
        known.insert(current.id().to_owned(), current.clone());
        Self { current, known }
    }
}

/// Seals and opens version content with the KEKs this server holds.
pub struct Keyring {
    ring: RwLock<Ring>,
    /// Where the current KEK lives (`None`: given in memory, for tests or a KMS).
    path: Option<PathBuf>,
    /// The key file's modification time, length and inode when last read.
    stamp: Mutex<Option<Stamp>>,
    /// One rotation at a time.
    rotation: tokio::sync::Mutex<()>,
}

impl Keyring {
    /// A keyring over KEKs held elsewhere (a KMS provider, tests): `current` wraps new keys.
    pub fn new(current: Arc<dyn KeyEncryptionKey>, older: Vec<Arc<dyn KeyEncryptionKey>>) -> Self {
        Self {
            ring: RwLock::new(Ring::new(current, older)),
            path: None,
            stamp: Mutex::new(None),
            rotation: tokio::sync::Mutex::new(()),
        }
    }

    /// A fresh random KEK kept only in memory (tests and throw-away servers).
    pub fn ephemeral() -> Self {
        Self::new(Arc::new(FileKek::generate()), Vec::new())
    }

    /// Loads the KEK at `path` and the older ones beside it (`<file>.<id>.previous`); when
    /// `generate_if_missing` (the data directory's default file), a missing file is created
    /// with a new KEK, mode 0600.
    pub fn open(path: &Path, generate_if_missing: bool) -> Result<Self, KekFileError> {
        let (current, older) = match load(path) {
            Err(KekFileError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && generate_if_missing =>
            {
                let kek = FileKek::generate();
                write_new(path, &kek)?;
                tracing::info!(kek_id = kek.id(), path = %path.display(), "generated a key-encryption key");
                (kek, previous(path)?)
            }
            other => other?,
        };
        let ring = Ring::new(Arc::new(current), older);
        Ok(Self {
            ring: RwLock::new(ring),
            path: Some(path.to_owned()),
            stamp: Mutex::new(stamp(path)),
            rotation: tokio::sync::Mutex::new(()),
        })
    }

    /// Where the current KEK lives, if in a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether a KEK with this id is held (re-reading the files once if not).
    pub fn holds(&self, id: &str) -> bool {
        self.kek(id).is_ok()
    }

    /// The id of the KEK that wraps new data keys.
    pub fn current_id(&self) -> String {
        self.ring.read().current.id().to_owned()
    }

    /// Seals content for its row under a fresh data key, wrapped by the current KEK (re-read
    /// first if its file changed: another replica may have rotated it).
    pub fn seal(
        &self,
        binding: &Binding<'_>,
        content: &PromptContent,
    ) -> Result<SealedContent, SealError> {
        self.refresh_if_changed();
        let kek = self.ring.read().current.clone();
        let key = Zeroizing::new(random::<KEY_LEN>());
        seal::seal(
            &*kek,
            binding,
            content,
            DataKey::from_bytes(*key),
            random::<NONCE_LEN>(),
        )
    }

    /// Opens sealed content with the KEK that wrapped its data key.
    pub fn unseal(
        &self,
        binding: &Binding<'_>,
        sealed: &SealedContent,
    ) -> Result<PromptContent, SealError> {
        seal::open(&*self.kek(&sealed.kek_id)?, binding, sealed)
    }

    /// The sealing rewrapped by the current KEK, or `None` when it already is.
    pub fn rewrap(
        &self,
        binding: &Binding<'_>,
        sealed: &SealedContent,
    ) -> Result<Option<SealedContent>, SealError> {
        let current = self.ring.read().current.clone();
        if sealed.kek_id == current.id() {
            return Ok(None);
        }
        let from = self.kek(&sealed.kek_id)?;
        seal::rewrap(&*from, &*current, binding, sealed).map(Some)
    }

    /// A KEK by id, re-reading the files once when it is unknown.
    fn kek(&self, id: &str) -> Result<Arc<dyn KeyEncryptionKey>, SealError> {
        if let Some(k) = self.ring.read().known.get(id) {
            return Ok(k.clone());
        }
        self.reload();
        self.ring
            .read()
            .known
            .get(id)
            .cloned()
            .ok_or_else(|| SealError::UnknownKek(id.to_owned()))
    }

    /// Holds the rotation lock (one rotation at a time in this process).
    pub async fn rotating(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rotation.lock().await
    }

    /// Starts a rotation: a new KEK becomes current (its file written, the old file kept as
    /// `<file>.<old id>.previous`); every KEK known before stays readable. Returns the new id
    /// and the ids to retire once every data key is rewrapped.
    pub fn begin_rotation(&self) -> Result<(String, Vec<String>), KekFileError> {
        let new = FileKek::generate();
        let old = self.ring.read().current.id().to_owned();
        if let Some(path) = &self.path {
            let aside = sibling(path, &old, "previous");
            std::fs::rename(path, &aside).map_err(|source| KekFileError::Write {
                path: aside.clone(),
                source,
            })?;
            write_new(path, &new)?;
            *self.stamp.lock() = stamp(path);
        }
        let id = new.id().to_owned();
        let mut ring = self.ring.write();
        let new: Arc<dyn KeyEncryptionKey> = Arc::new(new);
        ring.known.insert(id.clone(), new.clone());
        ring.current = new;
        let older = ring.known.keys().filter(|k| **k != id).cloned().collect();
        tracing::info!(kek_id = %id, previous = %old, "rotating the key-encryption key");
        Ok((id, older))
    }

    /// Retires KEKs no data key is wrapped by any more: their files renamed
    /// `<file>.<id>.retired` (no longer loaded; safe to delete) and forgotten here. A keyring
    /// without a file (tests, where several stores share one) keeps every KEK it held.
    pub fn retire(&self, ids: &[String]) -> Result<(), KekFileError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        for id in ids {
            let from = sibling(path, id, "previous");
            let to = sibling(path, id, "retired");
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                // Retired by another replica already.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(KekFileError::Write { path: to, source }),
            }
            self.ring.write().known.remove(id);
        }
        Ok(())
    }

    /// Re-reads the files when the key file changed since it was read.
    fn refresh_if_changed(&self) {
        let Some(path) = &self.path else { return };
        if stamp(path) != *self.stamp.lock() {
            self.reload();
        }
    }

    /// Re-reads the key file and the older ones beside it: a KEK rotated by another replica
    /// becomes current here; nothing known is forgotten.
    fn reload(&self) {
        let Some(path) = &self.path else { return };
        let before = stamp(path);
        match load(path) {
            Ok((current, older)) => {
                let mut ring = self.ring.write();
                for k in older {
                    ring.known.entry(k.id().to_owned()).or_insert(k);
                }
                if current.id() != ring.current.id() {
                    tracing::info!(
                        kek_id = current.id(),
                        "the key-encryption key file changed: using its key"
                    );
                    let current: Arc<dyn KeyEncryptionKey> = Arc::new(current);
                    ring.known.insert(current.id().to_owned(), current.clone());
                    ring.current = current;
                }
                *self.stamp.lock() = before;
            }
            Err(e) => tracing::warn!(error = %e, "cannot re-read the key-encryption key files"),
        }
    }
}

/// The KEK at `path` and the `.previous` ones beside it.
fn load(path: &Path) -> Result<(FileKek, Vec<Arc<dyn KeyEncryptionKey>>), KekFileError> {
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| KekFileError::Read {
                path: path.to_owned(),
                source,
            })?,
        );
    Ok((FileKek::parse(path, &text)?, previous(path)?))
}

/// Every `<file>.<id>.previous` beside `path`.
fn previous(path: &Path) -> Result<Vec<Arc<dyn KeyEncryptionKey>>, KekFileError> {
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", file.to_string_lossy());
    let read_err = |source| KekFileError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut out: Vec<Arc<dyn KeyEncryptionKey>> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(&prefix) && name.ends_with(".previous")) {
            continue;
        }
        let p = entry.path();
        let text =
            Zeroizing::new(
                std::fs::read_to_string(&p).map_err(|source| KekFileError::Read {
                    path: p.clone(),
                    source,
                })?,
            );
        out.push(Arc::new(FileKek::parse(&p, &text)?));
    }
    Ok(out)
}

fn sibling(path: &Path, id: &str, state: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{id}.{state}"));
    path.with_file_name(name)
}

/// What tells a replaced key file from the one read: a rotation writes a new file (a new
/// inode), possibly within the same clock tick and with the same length.
type Stamp = (SystemTime, u64, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some((m.modified().ok()?, m.len(), inode))
}

/// Writes a KEK to a file that must not exist yet, readable by the owner only, durably.
fn write_new(path: &Path, kek: &FileKek) -> Result<(), KekFileError> {
    use std::io::Write;
    let err = |source| KekFileError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(err)?;
    file.write_all(kek.text().as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_generated_file_is_private_and_loads_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let first = Keyring::open(&path, true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Keyring::open(&path, false).unwrap();
        assert_eq!(first.current_id(), again.current_id());
    }

    #[test]
    fn missing_and_malformed_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let e = Keyring::open(&path, false).err().unwrap();
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        std::fs::write(&path, "c2hvcnQ=\n").unwrap();
        let e = Keyring::open(&path, false).err().unwrap();
        assert!(matches!(e, KekFileError::Malformed { .. }), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }

    #[test]
    fn rotation_keeps_the_old_key_readable_until_retired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let ring = Keyring::open(&path, true).unwrap();
        let old = ring.current_id();
        let (new, older) = ring.begin_rotation().unwrap();
        assert_eq!(older, vec![old.clone()]);
        assert_eq!(ring.current_id(), new);
        assert!(sibling(&path, &old, "previous").exists());
        // A restart in the middle of a rotation holds both.
        let restarted = Keyring::open(&path, false).unwrap();
        assert!(restarted.kek(&old).is_ok() && restarted.kek(&new).is_ok());
        ring.retire(&older).unwrap();
        assert!(sibling(&path, &old, "retired").exists());
        assert!(ring.kek(&old).is_err());
        assert!(Keyring::open(&path, false).unwrap().kek(&old).is_err());
    }

    #[test]
    fn a_replica_sharing_the_file_follows_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let a = Keyring::open(&path, true).unwrap();
        let b = Keyring::open(&path, false).unwrap();
        let (new, _) = a.begin_rotation().unwrap();
        let content =
            PromptContent::from_value(&serde_json::json!({"type": "text", "template": "x"}))
                .unwrap();
        let (project, name) = (
            promptreg_core::ProjectId::default(),
            promptreg_core::PromptName::parse("p").unwrap(),
        );
        let digest = content.digest();
        let binding = Binding {
            project: &project,
            name: &name,
            version: promptreg_core::Version::FIRST,
            digest: &digest,
        };
        // B reads what A seals with the new KEK, and seals with it too from now on.
        let by_a = a.seal(&binding, &content).unwrap();
        assert_eq!(b.unseal(&binding, &by_a).unwrap().digest(), digest);
        let by_b = b.seal(&binding, &content).unwrap();
        assert_eq!(by_b.kek_id, new);
        assert_eq!(a.unseal(&binding, &by_b).unwrap().digest(), digest);
    }
}
