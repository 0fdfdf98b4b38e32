//! The keyring on disk: a directory of cluster key files and a `primary`
//! file naming the one to dial with.
//!
//! ```text
//! keyring/
//!   3f2a9c0d1e4b5a67.key   the old key (64 hex digits, mode 0600)
//!   a81c44e09b7d2f10.key   the new key
//!   primary                a81c44e09b7d2f10
//! ```
//!
//! Each change an administrator makes (`officemesh keyring install`,
//! `use`, `remove`) is one file written whole and renamed into place, or
//! one file removed, so a node reloading at any moment reads either the
//! keyring before the change or the keyring after it. Until the directory
//! holds a key, the node uses `cluster.key_file` alone; the first
//! `install` copies that key in as the primary, so installing a new key
//! never drops the one the office speaks today.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::identity::{self, ClusterKey, IdentityError};
use super::keyring::{Keyring, KeyringError, MAX_KEYRING_KEYS};
use crate::key_fingerprint::KeyFingerprint;

/// The file naming the primary key, inside the keyring directory.
pub const PRIMARY_FILE: &str = "primary";

/// The extension of key files inside the keyring directory.
pub const KEY_EXTENSION: &str = "key";

/// Hex digits an administrator must type at least to name a key.
pub const MIN_PREFIX: usize = 4;

/// Why the keyring directory could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyringDirError {
    #[error(transparent)]
    Key(#[from] IdentityError),
    #[error("cannot read the keyring {dir}: {source}")]
    Read { dir: PathBuf, source: io::Error },
    #[error("cannot change the keyring {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "the keyring {dir} holds {count} keys and no `primary` file: \
         run `officemesh keyring use FINGERPRINT`"
    )]
    NoPrimary { dir: PathBuf, count: usize },
    #[error("{file} names key {primary}, which is not in the keyring")]
    PrimaryNotInstalled { file: PathBuf, primary: String },
    #[error("no key in the keyring {dir} has a fingerprint starting with `{prefix}`")]
    NoSuchKey { dir: PathBuf, prefix: String },
    #[error("`{prefix}` matches several keys ({matches}): type more digits")]
    Ambiguous { prefix: String, matches: String },
    #[error("name a key by at least {MIN_PREFIX} hex digits of its fingerprint (got `{0}`)")]
    PrefixTooShort(String),
    #[error(
        "{0} is the primary key: make another key the primary first \
         (`officemesh keyring use FINGERPRINT`)"
    )]
    RemovingPrimary(KeyFingerprint),
    #[error("the keyring {dir} is full ({MAX_KEYRING_KEYS} keys): remove an old key first")]
    Full { dir: PathBuf },
    #[error("the keyring {dir}: {source}")]
    Keyring { dir: PathBuf, source: KeyringError },
}

/// One key file in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyringEntry {
    pub fingerprint: KeyFingerprint,
    pub file: PathBuf,
    pub primary: bool,
}

/// Where a replica's keys came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyringSource {
    /// The keyring directory holds keys.
    Directory(PathBuf),
    /// The keyring directory holds none: the one key of `cluster.key_file`.
    KeyFile(PathBuf),
}

impl std::fmt::Display for KeyringSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyringSource::Directory(dir) => write!(f, "keyring {}", dir.display()),
            KeyringSource::KeyFile(file) => write!(f, "key file {}", file.display()),
        }
    }
}

/// A keyring directory (which may not exist yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyringDir {
    dir: PathBuf,
}

/// The keys a replica uses: the keyring directory when it holds keys,
/// else the single key in `key_file`.
pub fn load_keys(
    keyring_dir: &Path,
    key_file: &Path,
) -> Result<(Keyring, KeyringSource), KeyringDirError> {
    let dir = KeyringDir::new(keyring_dir);
    match dir.load()? {
        Some(ring) => Ok((ring, KeyringSource::Directory(keyring_dir.to_path_buf()))),
        None => Ok((
            Keyring::from(ClusterKey::load(key_file)?),
            KeyringSource::KeyFile(key_file.to_path_buf()),
        )),
    }
}

impl KeyringDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn read_err(&self) -> impl Fn(io::Error) -> KeyringDirError + '_ {
        |source| KeyringDirError::Read {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Every key file with its fingerprint, by fingerprint; none when the
    /// directory does not exist.
    fn keys(&self) -> Result<Vec<(KeyFingerprint, PathBuf, ClusterKey)>, KeyringDirError> {
        let listing = match fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.read_err()(e)),
        };
        let mut keys = Vec::new();
        for entry in listing {
            let path = entry.map_err(self.read_err())?.path();
            if path.extension().is_some_and(|e| e == KEY_EXTENSION) && path.is_file() {
                let key = ClusterKey::load(&path)?;
                keys.push((key.fingerprint(), path, key));
            }
        }
        keys.sort_by_key(|(fp, _, _)| *fp);
        keys.dedup_by_key(|(fp, _, _)| *fp);
        Ok(keys)
    }

    /// The fingerprint the `primary` file names, if there is one.
    fn primary_named(&self) -> Result<Option<(String, PathBuf)>, KeyringDirError> {
        let file = self.dir.join(PRIMARY_FILE);
        match fs::read_to_string(&file) {
            Ok(text) => Ok(Some((text.trim().to_ascii_lowercase(), file))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.read_err()(e)),
        }
    }

    /// The key files and which one is the primary.
    pub fn entries(&self) -> Result<Vec<KeyringEntry>, KeyringDirError> {
        let keys = self.keys()?;
        let primary = self.primary_of(&keys)?;
        Ok(keys
            .into_iter()
            .map(|(fingerprint, file, _)| KeyringEntry {
                primary: Some(fingerprint) == primary,
                fingerprint,
                file,
            })
            .collect())
    }

    /// Which of `keys` is the primary: the one the `primary` file names,
    /// or the only key when there is one and no `primary` file.
    fn primary_of(
        &self,
        keys: &[(KeyFingerprint, PathBuf, ClusterKey)],
    ) -> Result<Option<KeyFingerprint>, KeyringDirError> {
        if keys.is_empty() {
            return Ok(None);
        }
        match self.primary_named()? {
            Some((named, file)) => keys
                .iter()
                .find(|(fp, _, _)| fp.to_string() == named)
                .map(|(fp, _, _)| Some(*fp))
                .ok_or(KeyringDirError::PrimaryNotInstalled {
                    file,
                    primary: named,
                }),
            None if keys.len() == 1 => Ok(Some(keys[0].0)),
            None => Err(KeyringDirError::NoPrimary {
                dir: self.dir.clone(),
                count: keys.len(),
            }),
        }
    }

    /// The keyring the directory holds; `None` when it holds no key.
    pub fn load(&self) -> Result<Option<Keyring>, KeyringDirError> {
        let keys = self.keys()?;
        let Some(primary) = self.primary_of(&keys)? else {
            return Ok(None);
        };
        let mut first = None;
        let mut others = Vec::new();
        for (fp, _, key) in keys {
            if fp == primary {
                first = Some(key);
            } else {
                others.push(key);
            }
        }
        let Some(first) = first else {
            return Ok(None);
        };
        Keyring::new(first, others)
            .map(Some)
            .map_err(|source| KeyringDirError::Keyring {
                dir: self.dir.clone(),
                source,
            })
    }

    /// Adds `key` to the keyring. When the directory holds no key yet,
    /// `current` (the key the replica uses today) is installed first as
    /// the primary, so the new key is only accepted, not yet dialled
    /// with. Installing a key already there changes nothing.
    pub fn install(
        &self,
        key: &ClusterKey,
        current: Option<&ClusterKey>,
    ) -> Result<KeyFingerprint, KeyringDirError> {
        let keys = self.keys()?;
        let fp = key.fingerprint();
        if keys.iter().any(|(f, _, _)| *f == fp) {
            return Ok(fp);
        }
        if keys.len() >= MAX_KEYRING_KEYS {
            return Err(KeyringDirError::Full {
                dir: self.dir.clone(),
            });
        }
        self.create()?;
        if keys.is_empty()
            && let Some(current) = current.filter(|c| c.fingerprint() != fp)
        {
            self.write_key(current)?;
            self.write_primary(current.fingerprint())?;
        }
        self.write_key(key)?;
        if keys.is_empty() && current.is_none() {
            self.write_primary(fp)?;
        }
        Ok(fp)
    }

    /// Makes the key `prefix` names the primary.
    pub fn use_key(&self, prefix: &str) -> Result<KeyFingerprint, KeyringDirError> {
        let fp = self.find(prefix)?;
        self.write_primary(fp)?;
        Ok(fp)
    }

    /// Removes the key `prefix` names; the primary cannot be removed.
    pub fn remove(&self, prefix: &str) -> Result<KeyFingerprint, KeyringDirError> {
        let fp = self.find(prefix)?;
        let keys = self.keys()?;
        if self.primary_of(&keys)? == Some(fp) {
            return Err(KeyringDirError::RemovingPrimary(fp));
        }
        for (_, file, _) in keys.iter().filter(|(f, _, _)| *f == fp) {
            fs::remove_file(file).map_err(|source| KeyringDirError::Write {
                path: file.clone(),
                source,
            })?;
        }
        sync_dir(&self.dir)?;
        Ok(fp)
    }

    /// The one key whose fingerprint starts with `prefix`.
    pub fn find(&self, prefix: &str) -> Result<KeyFingerprint, KeyringDirError> {
        let prefix = prefix.trim();
        if prefix.len() < MIN_PREFIX {
            return Err(KeyringDirError::PrefixTooShort(prefix.to_string()));
        }
        let matches: Vec<KeyFingerprint> = self
            .keys()?
            .into_iter()
            .map(|(fp, _, _)| fp)
            .filter(|fp| fp.starts_with(prefix))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(KeyringDirError::NoSuchKey {
                dir: self.dir.clone(),
                prefix: prefix.to_string(),
            }),
            many => Err(KeyringDirError::Ambiguous {
                prefix: prefix.to_string(),
                matches: many
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Creates the directory (mode 0700), owned like its parent.
    fn create(&self) -> Result<(), KeyringDirError> {
        if self.dir.is_dir() {
            return Ok(());
        }
        identity::create_private_dir(&self.dir)?;
        self.own_like_parent(&self.dir);
        Ok(())
    }

    fn write_key(&self, key: &ClusterKey) -> Result<(), KeyringDirError> {
        let path = self
            .dir
            .join(format!("{}.{KEY_EXTENSION}", key.fingerprint()));
        key.write_new(&path)?;
        self.own_like_parent(&path);
        Ok(())
    }

    fn write_primary(&self, fp: KeyFingerprint) -> Result<(), KeyringDirError> {
        let path = self.dir.join(PRIMARY_FILE);
        let tmp = self.dir.join(format!("{PRIMARY_FILE}.tmp"));
        let write_err = |source| KeyringDirError::Write {
            path: path.clone(),
            source,
        };
        fs::write(&tmp, format!("{fp}\n")).map_err(write_err)?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(write_err)?;
        fs::rename(&tmp, &path).map_err(write_err)?;
        sync_dir(&self.dir)?;
        self.own_like_parent(&path);
        Ok(())
    }

    /// Gives `path` the owner of the directory above it: an administrator
    /// runs `sudo officemesh keyring …` and the node, running as its own
    /// user, must still read what was written. Failing that (not root)
    /// is only worth a warning: the file is then the writer's.
    fn own_like_parent(&self, path: &Path) {
        let Some(parent) = path.parent() else { return };
        let (Ok(parent_meta), Ok(meta)) = (fs::metadata(parent), fs::metadata(path)) else {
            return;
        };
        let owner = if path == self.dir {
            parent_meta
        } else {
            match fs::metadata(&self.dir) {
                Ok(m) => m,
                Err(_) => return,
            }
        };
        if (meta.uid(), meta.gid()) == (owner.uid(), owner.gid()) {
            return;
        }
        if let Err(error) = std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid())) {
            tracing::warn!(path = %path.display(), %error, "could not give the file to the keyring's owner");
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), KeyringDirError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| KeyringDirError::Write {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_absent_keyring_falls_back_to_the_key_file() {
        let tmp = tempfile::tempdir().unwrap();
        let key_file = tmp.path().join("cluster.key");
        let key = ClusterKey::generate();
        key.write_new(&key_file).unwrap();
        let (ring, source) = load_keys(&tmp.path().join("keyring"), &key_file).unwrap();
        assert_eq!(ring.primary(), &key);
        assert_eq!(source, KeyringSource::KeyFile(key_file));
    }

    #[test]
    fn install_use_remove_is_a_rotation() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = KeyringDir::new(tmp.path().join("keyring"));
        let (old, new) = (ClusterKey::generate(), ClusterKey::generate());
        // Install: the current key stays the primary, the new one is accepted.
        let fp = dir.install(&new, Some(&old)).unwrap();
        assert_eq!(fp, new.fingerprint());
        let ring = dir.load().unwrap().unwrap();
        assert_eq!(ring.primary(), &old);
        assert!(ring.contains(&new.fingerprint()));
        let mode = fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Installing again changes nothing.
        dir.install(&new, Some(&old)).unwrap();
        assert_eq!(dir.entries().unwrap().len(), 2);
        // The primary cannot be removed.
        let old_fp = old.fingerprint().to_string();
        assert!(matches!(
            dir.remove(&old_fp[..6]),
            Err(KeyringDirError::RemovingPrimary(_))
        ));
        // Use: the new key becomes the primary, by a prefix of its fingerprint.
        dir.use_key(&fp.to_string()[..8]).unwrap();
        let ring = dir.load().unwrap().unwrap();
        assert_eq!(ring.primary(), &new);
        assert_eq!(ring.len(), 2);
        // Remove: only the new key is left.
        dir.remove(&old_fp).unwrap();
        let ring = dir.load().unwrap().unwrap();
        assert_eq!(ring.fingerprints(), vec![new.fingerprint()]);
        let entries = dir.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].primary);
    }

    #[test]
    fn prefixes_must_be_long_enough_and_known() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = KeyringDir::new(tmp.path().join("keyring"));
        dir.install(&ClusterKey::generate(), None).unwrap();
        assert!(matches!(
            dir.use_key("ab"),
            Err(KeyringDirError::PrefixTooShort(_))
        ));
        // 16 digits no key of this keyring has (one key: at most one match).
        let fp = dir.entries().unwrap()[0].fingerprint.to_string();
        let other: String = fp
            .chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect();
        assert!(matches!(
            dir.use_key(&other),
            Err(KeyringDirError::NoSuchKey { .. })
        ));
    }

    #[test]
    fn several_keys_without_a_primary_file_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = KeyringDir::new(tmp.path().join("keyring"));
        dir.install(&ClusterKey::generate(), Some(&ClusterKey::generate()))
            .unwrap();
        fs::remove_file(dir.path().join(PRIMARY_FILE)).unwrap();
        assert!(matches!(
            dir.load(),
            Err(KeyringDirError::NoPrimary { count: 2, .. })
        ));
    }
}
