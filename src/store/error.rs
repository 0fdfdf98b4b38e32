//! What can go wrong with the store, in an operator's terms.

use std::path::PathBuf;

use crate::node_id::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state database error while {doing}: {source}")]
    Database {
        doing: &'static str,
        source: redb::Error,
    },
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error(
        "the state database belongs to replica {stored}, but the key file now gives {current}; \
         restore the old key file or start from an empty data directory"
    )]
    IdentityMismatch { stored: NodeId, current: NodeId },
    #[error("the dot counter is exhausted")]
    DotsExhausted,
}

/// Wraps any redb error with what the store was doing.
pub(crate) fn failed<E: Into<redb::Error>>(doing: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Database {
        doing,
        source: e.into(),
    }
}
