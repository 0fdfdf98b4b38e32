//! The simulated network interface of a demo node: its own loopback
//! address and a locally administered MAC, announced in its `Node` entry
//! in place of the host's interfaces.

use std::net::Ipv4Addr;

use crate::crdt::Interface;

/// The most nodes a demo office holds: one loopback address each, from
/// 127.0.0.2 to 127.0.0.251.
pub const MAX_NODES: usize = 250;

/// The address of the demo's `i`th node (`i < MAX_NODES`): 127.0.0.2, …
pub fn address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % MAX_NODES) as u8)
}

/// A MAC with the locally administered bit set (the `02` of the first
/// octet), so it can never be mistaken for a real card's; the last octets
/// follow the address.
pub fn mac(i: usize) -> [u8; 6] {
    let [_, _, _, last] = address(i).octets();
    [0x02, 0x6f, 0x6d, 0x00, 0x00, last]
}

/// The one interface the node announces.
pub fn interface(i: usize) -> Interface {
    Interface {
        name: "eth0".into(),
        mac: mac(i),
        ipv4: vec![address(i)],
        ipv6: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locally_administered_and_distinct() {
        assert_eq!(address(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(address(MAX_NODES - 1), Ipv4Addr::new(127, 0, 0, 251));
        let macs: std::collections::BTreeSet<_> = (0..MAX_NODES).map(mac).collect();
        assert_eq!(macs.len(), MAX_NODES);
        for i in 0..MAX_NODES {
            let first = mac(i)[0];
            assert_eq!(first & 0b10, 0b10, "locally administered");
            assert_eq!(first & 0b1, 0, "unicast");
        }
    }
}
