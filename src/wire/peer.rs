//! How one replica tells another where a third can be reached.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::node_id::NodeId;

/// A replica's id and the address it listens on.
///
/// HyParView passes these around in JOIN, FORWARDJOIN and SHUFFLE so that a
/// node can open a connection to a peer it has only heard of. The id is
/// checked by the Noise handshake when the connection opens.
///
/// On the wire (a binary format) it is packed: the id as 8 fixed bytes
/// (a digest: a varint would take 9 or 10) and the address as its octets
/// and a fixed 2-byte port, 15 bytes for IPv4 instead of about 17. A
/// shuffle walk carries up to 9 of these on every hop, every 10 s, from
/// every node, so they are most of an idle office's traffic. Readable
/// formats (JSON) keep the plain `{id, addr}` form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerInfo {
    pub id: NodeId,
    pub addr: SocketAddr,
}

/// The readable form.
#[derive(Serialize, Deserialize)]
#[serde(rename = "PeerInfo")]
struct Readable {
    id: NodeId,
    addr: SocketAddr,
}

/// The packed form.
#[derive(Serialize, Deserialize)]
enum Packed {
    V4([u8; 8], [u8; 4], [u8; 2]),
    V6([u8; 8], [u8; 16], [u8; 2]),
}

impl Serialize for PeerInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return Readable {
                id: self.id,
                addr: self.addr,
            }
            .serialize(serializer);
        }
        let id = self.id.0.to_be_bytes();
        let port = self.addr.port().to_be_bytes();
        let packed = match self.addr {
            SocketAddr::V4(a) => Packed::V4(id, a.ip().octets(), port),
            SocketAddr::V6(a) => Packed::V6(id, a.ip().octets(), port),
        };
        packed.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PeerInfo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let r = Readable::deserialize(deserializer)?;
            return Ok(PeerInfo {
                id: r.id,
                addr: r.addr,
            });
        }
        Ok(match Packed::deserialize(deserializer)? {
            Packed::V4(id, ip, port) => PeerInfo {
                id: NodeId(u64::from_be_bytes(id)),
                addr: SocketAddr::new(Ipv4Addr::from(ip).into(), u16::from_be_bytes(port)),
            },
            Packed::V6(id, ip, port) => PeerInfo {
                id: NodeId(u64::from_be_bytes(id)),
                addr: SocketAddr::new(Ipv6Addr::from(ip).into(), u16::from_be_bytes(port)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_ipv4_peer_packs_into_15_bytes() {
        let p = PeerInfo {
            id: NodeId(u64::MAX),
            addr: "192.168.1.20:47000".parse().unwrap(),
        };
        let bytes = postcard::to_stdvec(&p).unwrap();
        assert_eq!(bytes.len(), 15);
        assert_eq!(postcard::from_bytes::<PeerInfo>(&bytes).unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("192.168.1.20:47000"), "{json}");
        assert_eq!(serde_json::from_str::<PeerInfo>(&json).unwrap(), p);
    }

    proptest! {
        #[test]
        fn packing_round_trips(id in any::<u64>(), v4 in any::<[u8; 4]>(), v6 in any::<[u8; 16]>(), port in any::<u16>()) {
            for ip in [std::net::IpAddr::from(v4), std::net::IpAddr::from(v6)] {
                let p = PeerInfo { id: NodeId(id), addr: SocketAddr::new(ip, port) };
                let bytes = postcard::to_stdvec(&p).unwrap();
                prop_assert_eq!(postcard::from_bytes::<PeerInfo>(&bytes).unwrap(), p);
            }
        }
    }
}
