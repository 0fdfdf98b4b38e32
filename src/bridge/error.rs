//! What stops the bridge from starting, in the operator's terms.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("no [mqtt] table in the configuration: the bridge needs at least `host`")]
    NoMqttTable,
    #[error("cannot read the MQTT password file {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the broker's CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot set up TLS to the broker: {0}")]
    Tls(String),
    #[error(transparent)]
    Identity(#[from] crate::observer::ObserverIdentityError),
}
