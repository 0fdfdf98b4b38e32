//! The node's network interfaces, as announced in its `Node` entry
//! (MAC → IPv4/IPv6), read from the OS with `netdev`.

use crate::crdt::Interface;

/// Every interface that is up and has a MAC address, in name order so an
/// unchanged machine gives an equal list (and no re-announcement).
/// Loopback is left out unless `include_loopback` (it has no MAC and says
/// nothing about where a Pi is).
pub fn read(include_loopback: bool) -> Vec<Interface> {
    let mut out: Vec<Interface> = netdev::get_interfaces()
        .into_iter()
        .filter(|i| i.is_up() && (include_loopback || !i.is_loopback()))
        .filter_map(|i| {
            let mac = match i.mac_addr {
                Some(mac) => mac.octets(),
                None if i.is_loopback() => [0; 6],
                None => return None,
            };
            let mut ipv4: Vec<_> = i.ipv4.iter().map(|n| n.addr()).collect();
            let mut ipv6: Vec<_> = i.ipv6.iter().map(|n| n.addr()).collect();
            ipv4.sort();
            ipv6.sort();
            Some(Interface {
                name: i.name,
                mac,
                ipv4,
                ipv6,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
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
