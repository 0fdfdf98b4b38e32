//! The node's network interfaces, as announced in its `Node` entry
//! (MAC → IPv4/IPv6), read from the OS with `getifaddrs(3)` through `nix`:
//! the C library already lists every address of every interface, link
//! layer included, so the binary carries no netlink parser of its own.

use std::collections::BTreeMap;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

use crate::crdt::Interface;

/// Every interface that is up and has a MAC address, in name order so an
/// unchanged machine gives an equal list (and no re-announcement).
/// Loopback is left out unless `include_loopback` (it has no MAC and says
/// nothing about where a Pi is). Nothing when the OS will not say.
pub fn read(include_loopback: bool) -> Vec<Interface> {
    let Ok(addresses) = getifaddrs() else {
        return Vec::new();
    };
    // `getifaddrs` lists one entry per address; an interface's link-layer
    // entry carries its MAC.
    let mut by_name: BTreeMap<String, (Option<[u8; 6]>, Interface)> = BTreeMap::new();
    for entry in addresses {
        let loopback = entry.flags.contains(InterfaceFlags::IFF_LOOPBACK);
        if !entry.flags.contains(InterfaceFlags::IFF_UP) || (loopback && !include_loopback) {
            continue;
        }
        let (mac, interface) = by_name
            .entry(entry.interface_name.clone())
            .or_insert_with(|| {
                let interface = Interface {
                    name: entry.interface_name.clone(),
                    mac: [0; 6],
                    ipv4: Vec::new(),
                    ipv6: Vec::new(),
                };
                (loopback.then_some([0; 6]), interface)
            });
        let Some(address) = entry.address else {
            continue;
        };
        if let Some(link) = address.as_link_addr().and_then(|l| l.addr()) {
            if !loopback {
                *mac = Some(link);
            }
        } else if let Some(v4) = address.as_sockaddr_in() {
            interface.ipv4.push(v4.ip());
        } else if let Some(v6) = address.as_sockaddr_in6() {
            interface.ipv6.push(v6.ip());
        }
    }
    by_name
        .into_values()
        .filter_map(|(mac, mut interface)| {
            interface.mac = mac?;
            interface.ipv4.sort();
            interface.ipv6.sort();
            Some(interface)
        })
        .collect()
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_reported_only_when_asked() {
        let with = read(true);
        assert!(with.iter().any(|i| i.ipv4.iter().any(|a| a.is_loopback())));
        let without = read(false);
        assert!(
            without
                .iter()
                .all(|i| i.ipv4.iter().all(|a| !a.is_loopback()))
        );
        assert_eq!(format_mac(&[0, 1, 0xab, 3, 4, 5]), "00:01:ab:03:04:05");
    }
}
