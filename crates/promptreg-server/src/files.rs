//! Permissions of what the server keeps on disk: the data directory is created 0700 and the
//! SQLite database with its `-wal` and `-shm` files is 0600, because they hold every prompt and
//! the token hashes.
//!
//! The database file is created here, empty and 0600, before SQLite opens it: SQLite creates
//! the `-wal` and `-shm` files later with the permissions of the database file, so they follow.
//! Files left 0644 by an earlier version are tightened at start-up; an existing data
//! directory others can read is only warned about, since it may be shared on purpose.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Creates the data directory (0700) and readies the SQLite files `url` names (0600).
pub fn prepare_data_dir(dir: &Path, url: &str) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    if let Some(db) = sqlite_file(url) {
        create_private_file(&db)?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = db.clone().into_os_string();
            side.push(suffix);
            tighten(Path::new(&side))?;
        }
    }
    Ok(())
}

/// The file of an `sqlite:` URL (`sqlite:x.db`, `sqlite://x.db?mode=rwc`), `None` for
/// in-memory databases and other backends.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.is_dir() {
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                directory = %dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory is accessible to other users; consider chmod 700"
            );
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))
}

/// Creates `path` empty with mode 0600 when it does not exist, else tightens it to 0600.
fn create_private_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten(path),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Makes an existing file 0600 (nothing when it does not exist).
#[cfg(unix)]
fn tighten(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private (0600)", path.display()))?;
        tracing::info!(file = %path.display(), "made private (0600)");
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Makes files the process creates from now on private to its user (umask 077), for files
/// SQLite or anything else creates that this module does not know of.
#[cfg(unix)]
pub fn private_umask() {
    use rustix::fs::Mode;
    rustix::process::umask(Mode::from_raw_mode(0o077));
}

/// Nothing to do off Unix.
#[cfg(not(unix))]
pub fn private_umask() {}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn sqlite_urls_name_their_file() {
        let file = |u| super::sqlite_file(u);
        assert_eq!(file("sqlite:d/p.db"), Some(PathBuf::from("d/p.db")));
        assert_eq!(
            file("sqlite:///abs/p.db?mode=rwc"),
            Some(PathBuf::from("/abs/p.db"))
        );
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite:x?mode=memory"), None);
        assert_eq!(file("postgres://h/db"), None);
    }
}
