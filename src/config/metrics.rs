//! `[metrics]`: the optional Prometheus endpoint. Off unless `listen` is
//! set, so a node opens no port an admin did not ask for.

use std::net::SocketAddr;

use serde::Deserialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Where `GET /metrics` is served, e.g. `127.0.0.1:9464` (the port
    /// Prometheus' registry lists for this exporter range). Keep it on
    /// loopback or the office LAN: the figures are not secret, but not
    /// for the whole world either.
    pub listen: Option<SocketAddr>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, ConfigError};

    #[test]
    fn metrics_are_off_unless_listen_is_set() {
        let config = Config::parse("", Path::new("c.toml")).unwrap();
        assert_eq!(config.metrics.listen, None);
        let config = Config::parse(
            "[metrics]\nlisten = \"127.0.0.1:9464\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(
            config.metrics.listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
    }

    #[test]
    fn a_misspelt_metrics_key_is_an_error() {
        let err = Config::parse(
            "[metrics]\nlisen = \"127.0.0.1:9464\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::UnknownKey { .. }), "{err:?}");
    }
}
