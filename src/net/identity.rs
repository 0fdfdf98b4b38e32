//! A replica's keys on disk: its identity key and the cluster key.
//!
//! The identity key is one 32-byte secret (DESIGN.md, "Identities"): it
//! signs the replica's writes (Ed25519) and, through its secret scalar, is
//! the Noise static key (X25519) its handshakes prove. Its [`NodeId`] is a
//! digest of the Noise public key, so the file is generated once, on first
//! start, and kept in the data directory. The cluster key is
//! the 32-byte pre-shared key every member holds (`officemesh keygen`); the
//! handshake fails for anyone without it. Both files are secrets: they are
//! written with mode 0600 and refused when anyone else may read them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use snow::params::DHChoice;
use snow::resolvers::{CryptoResolver, DefaultResolver};

use crate::crdt::WriteKey;
use crate::key_fingerprint::KeyFingerprint;
use crate::node_id::NodeId;

/// Name of the static key file inside the data directory.
pub const KEYPAIR_FILE: &str = "node.key";

/// Bytes in a Curve25519 key and in the cluster key.
pub const KEY_LEN: usize = 32;

/// Permission bits that let someone other than the owner read or write.
const OTHERS_MASK: u32 = 0o007;

/// Why a key could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "{path} is readable by other users (mode {mode:o}); it holds a secret key, \
         run `chmod 600 {path}`"
    )]
    WorldReadable { path: PathBuf, mode: u32 },
    #[error("{path} does not hold a key: expected {KEY_LEN} bytes as {expected_hex} hex digits")]
    Malformed { path: PathBuf, expected_hex: usize },
    #[error("{path} already exists; refusing to overwrite a key")]
    AlreadyExists { path: PathBuf },
    #[error("the Noise library could not {0}")]
    Crypto(&'static str),
}

/// A replica's identity: its signing key and the Noise static keypair
/// (Curve25519) derived from it.
#[derive(Clone)]
pub struct StaticKeypair {
    private: [u8; KEY_LEN],
    public: [u8; KEY_LEN],
    signing: WriteKey,
}

impl std::fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("node_id", &self.node_id())
            .finish_non_exhaustive()
    }
}

impl StaticKeypair {
    /// A fresh keypair from the operating system's random source.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut seed = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut seed);
        Self::from_private(seed)
    }

    /// The identity whose secret is `seed` (the Noise keypair and the
    /// public halves are derived, so a file can never hold a mismatched
    /// pair).
    pub fn from_private(seed: [u8; KEY_LEN]) -> Result<Self, IdentityError> {
        let signing = WriteKey::from_seed(seed);
        let private = signing.x25519_secret();
        let mut dh = DefaultResolver
            .resolve_dh(&DHChoice::Curve25519)
            .ok_or(IdentityError::Crypto("provide Curve25519"))?;
        dh.set(&private);
        let mut public = [0u8; KEY_LEN];
        if dh.pubkey().len() != KEY_LEN {
            return Err(IdentityError::Crypto("derive a 32-byte public key"));
        }
        public.copy_from_slice(dh.pubkey());
        Ok(Self {
            private,
            public,
            signing,
        })
    }

    /// The key this replica signs its writes with.
    pub fn write_key(&self) -> WriteKey {
        self.signing.clone()
    }

    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    pub(crate) fn private(&self) -> &[u8; KEY_LEN] {
        &self.private
    }

    /// The identity this keypair proves in every handshake.
    pub fn node_id(&self) -> NodeId {
        NodeId::from_public_key(&self.public)
    }

    /// Loads `dir/node.key`, generating and storing a new keypair on first
    /// start. Creates `dir` (mode 0700) if needed.
    pub fn load_or_generate(dir: &Path) -> Result<Self, IdentityError> {
        let path = dir.join(KEYPAIR_FILE);
        match read_secret(&path) {
            Ok(private) => Self::from_private(private),
            Err(IdentityError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                create_private_dir(dir)?;
                let mut seed = [0u8; KEY_LEN];
                rand::rng().fill_bytes(&mut seed);
                let pair = Self::from_private(seed)?;
                write_secret(&path, &seed)?;
                tracing::info!(node_id = %pair.node_id(), path = %path.display(), "generated a new static key");
                Ok(pair)
            }
            Err(e) => Err(e),
        }
    }
}

/// The cluster's 32-byte pre-shared key (Noise `psk3`).
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey([u8; KEY_LEN]);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

impl ClusterKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The short digest that names this key in keyrings, logs and the
    /// `Node` entries of the nodes that hold it.
    pub fn fingerprint(&self) -> KeyFingerprint {
        KeyFingerprint::of(&self.0)
    }

    /// Reads a key file written by [`ClusterKey::write_new`] (hex text).
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        read_secret(path).map(Self)
    }

    /// Writes this key to a new file (mode 0600), never over an existing one.
    pub fn write_new(&self, path: &Path) -> Result<(), IdentityError> {
        if path.exists() {
            return Err(IdentityError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        write_secret(path, &self.0)
    }

    /// The key as the text a key file holds: 64 hex digits and a newline.
    pub fn to_text(&self) -> String {
        to_hex(&self.0)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    text.push('\n');
    text
}

fn from_hex(text: &str) -> Option<[u8; KEY_LEN]> {
    let text = text.trim();
    if text.len() != 2 * KEY_LEN || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Reads a hex key file, refusing one that other users may read.
pub(crate) fn read_secret(path: &Path) -> Result<[u8; KEY_LEN], IdentityError> {
    let read_err = |source| IdentityError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(read_err)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & OTHERS_MASK != 0 {
        return Err(IdentityError::WorldReadable {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(read_err)?;
    from_hex(&text).ok_or(IdentityError::Malformed {
        path: path.to_path_buf(),
        expected_hex: 2 * KEY_LEN,
    })
}

/// Writes a hex key file with mode 0600: to a temporary file first, synced
/// and renamed, so a crash leaves either no key or the whole key.
pub(crate) fn write_secret(path: &Path, key: &[u8; KEY_LEN]) -> Result<(), IdentityError> {
    let write_err = |source| IdentityError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write_err)?;
    file.write_all(to_hex(key).as_bytes()).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    fs::rename(&tmp, path).map_err(write_err)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(write_err)?;
    }
    Ok(())
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), IdentityError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| IdentityError::Write {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keypair_is_generated_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = StaticKeypair::load_or_generate(&data).unwrap();
        let again = StaticKeypair::load_or_generate(&data).unwrap();
        assert_eq!(first.node_id(), again.node_id());
        assert_eq!(first.public(), again.public());
        let mode = fs::metadata(data.join(KEYPAIR_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn world_readable_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        StaticKeypair::load_or_generate(dir.path()).unwrap();
        let path = dir.path().join(KEYPAIR_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = StaticKeypair::load_or_generate(dir.path()).unwrap_err();
        assert!(
            matches!(err, IdentityError::WorldReadable { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn cluster_key_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.key");
        let key = ClusterKey::generate();
        key.write_new(&path).unwrap();
        assert_eq!(ClusterKey::load(&path).unwrap(), key);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            key.write_new(&path),
            Err(IdentityError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn malformed_cluster_key_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.key");
        fs::write(&path, "not a key\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = ClusterKey::load(&path).unwrap_err();
        assert!(matches!(err, IdentityError::Malformed { .. }));
        assert!(err.to_string().contains("cluster.key"));
    }

    #[test]
    fn public_key_is_derived_from_private() {
        let a = StaticKeypair::from_private([7u8; KEY_LEN]).unwrap();
        let b = StaticKeypair::from_private([7u8; KEY_LEN]).unwrap();
        assert_eq!(a.public(), b.public());
        assert_ne!(a.public(), &[7u8; KEY_LEN]);
    }
}
