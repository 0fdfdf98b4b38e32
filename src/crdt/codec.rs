//! Encoding of states, deltas and anti-entropy bodies (postcard), with
//! errors that say which thing was malformed.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a state, delta or digest could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("could not encode the {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: postcard::Error,
    },
    #[error("malformed {what}: {source}")]
    Malformed {
        what: &'static str,
        #[source]
        source: postcard::Error,
    },
    #[error("the {what} is followed by {extra} stray bytes")]
    TrailingBytes { what: &'static str, extra: usize },
}

pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(value).map_err(|source| CodecError::Encode { what, source })
}

pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes(bytes)
        .map_err(|source| CodecError::Malformed { what, source })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes {
            what,
            extra: rest.len(),
        });
    }
    Ok(value)
}
