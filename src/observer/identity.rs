//! An observer's identity in the operator's data directory: its Noise
//! keypair (so its writes carry a stable replica id and an audit trail)
//! and its dot counter, persisted before each use so a dot is never reused
//! and never skipped (a skipped dot would leave a gap no version vector
//! closes, and *converged* could never be reported).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::net::{IdentityError, StaticKeypair};

/// The counter file inside the observer directory.
pub const COUNTER_FILE: &str = "observer.counter";

#[derive(Debug, thiserror::Error)]
pub enum ObserverIdentityError {
    #[error(transparent)]
    Key(#[from] IdentityError),
    #[error("cannot read or write the observer's dot counter {path}: {source}")]
    Counter { path: PathBuf, source: io::Error },
    #[error("the observer's dot counter {path} is corrupt")]
    CorruptCounter { path: PathBuf },
}

/// The observer directory used when none is given: `observer/` in the
/// per-user data directory (`directories::ProjectDirs`).
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "officemesh").map(|d| d.data_dir().join("observer"))
}

#[derive(Debug)]
pub struct ObserverIdentity {
    pub keypair: StaticKeypair,
    dir: PathBuf,
}

impl ObserverIdentity {
    pub fn load_or_generate(dir: &Path) -> Result<Self, ObserverIdentityError> {
        let keypair = StaticKeypair::load_or_generate(dir)?;
        Ok(Self {
            keypair,
            dir: dir.to_path_buf(),
        })
    }

    fn counter_path(&self) -> PathBuf {
        self.dir.join(COUNTER_FILE)
    }

    /// The last dot counter this observer used (0: none).
    pub fn last_counter(&self) -> Result<u64, ObserverIdentityError> {
        let path = self.counter_path();
        match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| ObserverIdentityError::CorruptCounter { path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(source) => Err(ObserverIdentityError::Counter { path, source }),
        }
    }

    /// Records `counter` as used, durably, before the dot is handed out.
    pub fn record_counter(&self, counter: u64) -> Result<(), ObserverIdentityError> {
        let path = self.counter_path();
        let err = |source| ObserverIdentityError::Counter {
            path: path.clone(),
            source,
        };
        let tmp = self.dir.join(format!("{COUNTER_FILE}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        file.write_all(format!("{counter}\n").as_bytes())
            .map_err(err)?;
        file.sync_all().map_err(err)?;
        fs::rename(&tmp, &path).map_err(err)?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_counter_persist() {
        let dir = tempfile::tempdir().unwrap();
        let a = ObserverIdentity::load_or_generate(dir.path()).unwrap();
        assert_eq!(a.last_counter().unwrap(), 0);
        a.record_counter(7).unwrap();
        let b = ObserverIdentity::load_or_generate(dir.path()).unwrap();
        assert_eq!(a.keypair.node_id(), b.keypair.node_id());
        assert_eq!(b.last_counter().unwrap(), 7);
    }
}
