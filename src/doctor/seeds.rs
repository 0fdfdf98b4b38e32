//! Do the seeds answer? Each seed is dialled and the full handshake run
//! with this node's cluster key (as an observer with a throwaway identity,
//! so the check joins nothing and writes nothing): a seed that is down, a
//! firewall, and a seed holding another office's key each fail
//! differently.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use super::Check;
use crate::config::Config;
use crate::net::{Endpoint, HandshakeError, StaticKeypair, load_keys};
use crate::wire::Role;

pub async fn check(config: &Config, data_dir: &Path) -> Vec<Check> {
    if config.cluster.seeds.is_empty() {
        return vec![Check::pass(
            "seeds",
            "none configured: this node waits for others to join it",
        )];
    }
    let key = match load_keys(&config.keyring_dir(data_dir), &config.key_file(data_dir)) {
        Ok((keys, _)) => keys,
        Err(error) => {
            return vec![Check::fail(
                "seeds",
                format!("not tried: {error}"),
                "fix the cluster key first",
            )];
        }
    };
    let keypair = match StaticKeypair::generate() {
        Ok(keypair) => keypair,
        Err(error) => {
            return vec![Check::fail(
                "seeds",
                format!("not tried: {error}"),
                "report this",
            )];
        }
    };
    let endpoint = Endpoint::new(keypair, key, Role::Observer);
    let mut checks = Vec::new();
    for seed in &config.cluster.seeds {
        let name = format!("seed {seed}");
        let addrs: Vec<SocketAddr> = match seed.to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(error) => {
                checks.push(Check::fail(
                    name,
                    format!("does not resolve: {error}"),
                    "check the name (or use the seed's IP address)",
                ));
                continue;
            }
        };
        let mut last = None;
        for addr in addrs {
            match endpoint.connect(addr).await {
                Ok(connection) => {
                    drop(connection);
                    last = None;
                    checks.push(Check::pass(
                        name.clone(),
                        format!("{addr} answers the handshake with our cluster key"),
                    ));
                    break;
                }
                Err(error) => last = Some(error),
            }
        }
        if let Some(error) = last {
            let fix = match error {
                HandshakeError::Connect { .. } | HandshakeError::TimedOut { .. } => {
                    "start the node there (`systemctl status officemesh` on it), or open its port \
                     in the firewall"
                }
                HandshakeError::WrongClusterKey { .. }
                | HandshakeError::ClosedByPeer { .. }
                | HandshakeError::Unanswered { .. } => "copy the same cluster key to both nodes",
                HandshakeError::VersionMismatch { .. } => "upgrade the older node",
                _ => "check that the address is an officemesh node's listen address",
            };
            checks.push(Check::fail(name, error.to_string(), fix));
        }
    }
    checks
}
