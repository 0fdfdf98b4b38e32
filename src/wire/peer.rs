//! How one replica tells another where a third can be reached.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::node_id::NodeId;

/// A replica's id and the address it listens on.
///
/// HyParView passes these around in JOIN, FORWARDJOIN and SHUFFLE so that a
/// node can open a connection to a peer it has only heard of. The id is
/// checked by the Noise handshake when the connection opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerInfo {
    pub id: NodeId,
    pub addr: SocketAddr,
}
