//! The key file (`--secret-key-file`): one [`Key`] as text, readable by its owner only.
//!
//! A key rotation writes the new key beside the file first (`<file>.new`), re-encrypts, then
//! renames the new file over the old one (see `store::rotate_secret_key`); a start after a
//! crash in between finds both files and keeps the one the database says is in use
//! ([`KeyFile::load`] returns both).
//!
//! Nothing here logs or prints a key.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use super::{Key, KeyTextError};

/// What a new key file says above its key.
const HEADER: &str = "# Ringback's secret key: it encrypts the secrets kept in the database.\n\
    # Keep a copy apart from the database's backups: without it their secrets cannot be read.\n";

/// Why the key file cannot be used (never quoting a key).
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("secret key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("secret key file {path}: {source}")]
    Text { path: String, source: KeyTextError },
}

/// The key file, and the file a rotation writes beside it.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
}

/// The keys found at start.
#[derive(Debug)]
pub struct Loaded {
    /// The key file's key.
    pub current: Key,
    /// The key of a rotation that stopped before its new file replaced the old one.
    pub pending: Option<Key>,
    /// The key file did not exist and was made now.
    pub created: bool,
}

impl KeyFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The key file of a SQLite database file: beside it, `ringback.db` -> `ringback.db.key`.
    pub fn beside(database_file: &Path) -> Self {
        let mut name = database_file.as_os_str().to_owned();
        name.push(".key");
        Self::new(name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a rotation writes its new key before the database is re-encrypted.
    pub fn pending_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".new");
        PathBuf::from(name)
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
        move |source| KeyFileError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    fn read(path: &Path) -> Result<Option<Key>, KeyFileError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::io(path)(e)),
        };
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the secret key file is readable by others than its owner: chmod 600 it"
            );
        }
        Key::from_text(&text)
            .map(Some)
            .map_err(|source| KeyFileError::Text {
                path: path.display().to_string(),
                source,
            })
    }

    /// The key file's key, made (mode 0600) when the file is absent, and the key of an
    /// unfinished rotation beside it, if any.
    pub fn load(&self) -> Result<Loaded, KeyFileError> {
        let pending = Self::read(&self.pending_path())?;
        if let Some(current) = Self::read(&self.path)? {
            return Ok(Loaded {
                current,
                pending,
                created: false,
            });
        }
        let key = Key::generate();
        let made = self.write_new(&self.path, &key, false)?;
        if !made {
            // Another process made it first: use its key.
            let current = Self::read(&self.path)?
                .ok_or_else(|| Self::io(&self.path)(std::io::ErrorKind::NotFound.into()))?;
            return Ok(Loaded {
                current,
                pending,
                created: false,
            });
        }
        Ok(Loaded {
            current: key,
            pending,
            created: true,
        })
    }

    /// Writes `key` to `path` through a temporary file in the same folder, synced, readable by
    /// its owner only: over what is there with `replace`, else only if nothing is (false if
    /// something was).
    fn write_new(&self, path: &Path, key: &Key, replace: bool) -> Result<bool, KeyFileError> {
        let dir = folder_of(path);
        fs::create_dir_all(dir).map_err(Self::io(dir))?;
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".tmp{}", std::process::id()));
        let temp = PathBuf::from(temp);
        let _ = fs::remove_file(&temp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(Self::io(&temp))?;
        let written = file
            .write_all(format!("{HEADER}{}\n", key.to_text()).as_bytes())
            .and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(Self::io(&temp)(e));
        }
        let placed = if replace {
            fs::rename(&temp, path).map(|()| true)
        } else {
            // A link fails if the name exists: two processes starting at once keep one key.
            let linked = match fs::hard_link(&temp, path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            };
            let _ = fs::remove_file(&temp);
            linked
        };
        let placed = placed.map_err(Self::io(path))?;
        sync_folder(dir);
        Ok(placed)
    }

    /// Writes a rotation's new key beside the key file (replacing an earlier unfinished one).
    pub fn write_pending(&self, key: &Key) -> Result<(), KeyFileError> {
        self.write_new(&self.pending_path(), key, true).map(|_| ())
    }

    /// Puts the rotation's new key file in place of the old one.
    pub fn promote_pending(&self) -> Result<(), KeyFileError> {
        let pending = self.pending_path();
        fs::rename(&pending, &self.path).map_err(Self::io(&self.path))?;
        sync_folder(folder_of(&self.path));
        Ok(())
    }

    /// Removes the new key file of a rotation that did not happen.
    pub fn discard_pending(&self) -> Result<(), KeyFileError> {
        let pending = self.pending_path();
        match fs::remove_file(&pending) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Self::io(&pending)(e)),
            _ => Ok(()),
        }
    }
}

fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a rename or a new name in `dir` durable (best effort: not every file system can).
fn sync_folder(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_file_is_made_for_its_owner_only_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::beside(&dir.path().join("ringback.db"));
        assert_eq!(file.path(), dir.path().join("ringback.db.key"));
        let first = file.load().unwrap();
        assert!(first.created);
        assert!(first.pending.is_none());
        let mode = fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = file.load().unwrap();
        assert!(!again.created);
        assert_eq!(again.current.id(), first.current.id());
    }

    #[test]
    fn a_pending_key_is_found_beside_and_promoted_or_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(dir.path().join("k"));
        let old = file.load().unwrap().current;
        let new = Key::generate();
        file.write_pending(&new).unwrap();
        let both = file.load().unwrap();
        assert_eq!(both.current.id(), old.id());
        assert_eq!(both.pending.as_ref().map(Key::id), Some(new.id()));
        file.promote_pending().unwrap();
        let after = file.load().unwrap();
        assert_eq!(after.current.id(), new.id());
        assert!(after.pending.is_none());
        file.write_pending(&Key::generate()).unwrap();
        file.discard_pending().unwrap();
        assert!(file.load().unwrap().pending.is_none());
        assert_eq!(file.load().unwrap().current.id(), new.id());
    }

    #[test]
    fn a_file_that_is_not_a_key_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, "hello\n").unwrap();
        let err = KeyFile::new(&path).load().unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("not a Ringback key"), "{err}");
    }
}
