//! The node's TOML configuration (`config.example.toml` lists every key).
//!
//! Every table refuses unknown keys, so a misspelt key is an error naming
//! the file and line rather than a setting silently ignored. Every key has
//! a default, so an empty file is a valid configuration.

mod cluster;
mod error;
mod gossip;
mod metrics;
mod node;
mod office;
mod targets;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bridge::MqttSection;
use crate::control::HeatingConfig;
use crate::sensors::{SensorConfig, SimulatedRoomConfig};

pub use cluster::{ClusterSection, DEFAULT_KEY_FILE, DEFAULT_KEYRING_DIR};
pub use error::ConfigError;
pub use gossip::GossipSection;
pub use metrics::MetricsSection;
pub use node::{DEFAULT_PORT, DEFAULT_ZONE, NodeSection, hostname, operator_label};
pub use office::{OfficeSection, UnknownTimeZone};
pub use targets::{TargetError, TargetRange, TargetsSection};

/// A whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub node: NodeSection,
    #[serde(default)]
    pub office: OfficeSection,
    #[serde(default)]
    pub cluster: ClusterSection,
    #[serde(default)]
    pub gossip: GossipSection,
    #[serde(default)]
    pub targets: TargetsSection,
    /// `[metrics]`: the Prometheus endpoint, off unless `listen` is set.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[[sensor]]` tables, in file order.
    #[serde(default)]
    pub sensor: Vec<SensorConfig>,
    /// `[heating]`, when this node drives a heater.
    #[serde(default)]
    pub heating: Option<HeatingConfig>,
    /// `[simulated_room]`: the thermal model behind `simulated` sensors and relays.
    #[serde(default)]
    pub simulated_room: Option<SimulatedRoomConfig>,
    /// `[mqtt]`: the broker `officemesh bridge mqtt` publishes to.
    #[serde(default)]
    pub mqtt: Option<MqttSection>,
    /// The directory relative paths in the file are taken from.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text, path)?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// Parses `text`; `file` only names the source in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let file = file.to_path_buf();
        // Syntax first, so a broken file is not reported as a schema error.
        if let Err(e) = text.parse::<toml::Table>() {
            let line = e.span().map_or(1, |s| error::line_of(text, s.start));
            return Err(ConfigError::Syntax {
                file,
                line,
                message: e.message().trim().to_string(),
            });
        }
        let config: Config = toml::from_str(text).map_err(|e| schema_error(text, &file, &e))?;
        config.validate(text, &file)?;
        Ok(config)
    }

    fn validate(&self, text: &str, file: &Path) -> Result<(), ConfigError> {
        let invalid = |section: &str, key: &str, reason: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            line: error::line_of_key(text, section, key),
            key: format!("{section}.{key}"),
            reason,
        };
        for seed in &self.cluster.seeds {
            cluster::check_seed(seed).map_err(|reason| invalid("cluster", "seeds", reason))?;
        }
        self.cluster
            .trust()
            .map_err(|reason| invalid("cluster", "operators", reason))?;
        self.office
            .time_zone()
            .map_err(|e| invalid("office", "timezone", e.to_string()))?;
        let batch = self.gossip.batch_bytes_max;
        if !(1..=gossip::BATCH_BYTES_LIMIT).contains(&batch) {
            return Err(invalid(
                "gossip",
                "batch_bytes_max",
                format!(
                    "must be between 1 and {} (got {batch})",
                    gossip::BATCH_BYTES_LIMIT
                ),
            ));
        }
        let burst = self.gossip.batch_burst;
        if !(1..=gossip::BATCH_BURST_LIMIT).contains(&burst) {
            return Err(invalid(
                "gossip",
                "batch_burst",
                format!(
                    "must be between 1 and {} (got {burst})",
                    gossip::BATCH_BURST_LIMIT
                ),
            ));
        }
        if self.node.zone.trim().is_empty() {
            return Err(invalid("node", "zone", "must not be empty".into()));
        }
        self.targets
            .temperature
            .validate()
            .map_err(|reason| invalid("targets.temperature", "min", reason))?;
        for (index, sensor) in self.sensor.iter().enumerate() {
            sensor.validate().map_err(|e| ConfigError::Invalid {
                file: file.to_path_buf(),
                line: error::line_of_table(text, "[[sensor]]", index),
                key: format!("sensor[{index}] ({})", sensor.name),
                reason: e.to_string(),
            })?;
            if self.sensor[..index].iter().any(|s| s.name == sensor.name) {
                return Err(ConfigError::Invalid {
                    file: file.to_path_buf(),
                    line: error::line_of_table(text, "[[sensor]]", index),
                    key: format!("sensor[{index}].name"),
                    reason: format!("another [[sensor]] is already named `{}`", sensor.name),
                });
            }
        }
        if let Some(heating) = &self.heating {
            heating.validate().map_err(|e| ConfigError::Invalid {
                file: file.to_path_buf(),
                line: error::line_of_table(text, "[heating]", 0),
                key: "heating".into(),
                reason: e.to_string(),
            })?;
        }
        if let Some(mqtt) = &self.mqtt {
            mqtt.validate()
                .map_err(|(key, reason)| invalid("mqtt", key, reason))?;
        }
        if self.gossip.active_view_size == 0 {
            return Err(invalid(
                "gossip",
                "active_view_size",
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The cluster key file: `cluster.key_file` (relative to the
    /// configuration file), else `cluster.key` in the data directory.
    pub fn key_file(&self, data_dir: &Path) -> PathBuf {
        match &self.cluster.key_file {
            Some(path) => self.base_dir.join(path),
            None => data_dir.join(DEFAULT_KEY_FILE),
        }
    }

    /// The keyring directory: `cluster.keyring_dir` (relative to the
    /// configuration file), else `keyring` in the data directory.
    pub fn keyring_dir(&self, data_dir: &Path) -> PathBuf {
        match &self.cluster.keyring_dir {
            Some(path) => self.base_dir.join(path),
            None => data_dir.join(DEFAULT_KEYRING_DIR),
        }
    }
}

/// Turns a serde error into one naming the key and its line.
fn schema_error(text: &str, file: &Path, e: &toml::de::Error) -> ConfigError {
    let file = file.to_path_buf();
    let message = e.message().trim().to_string();
    let span = e.span().unwrap_or(0..0);
    let line = error::line_of(text, span.start);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = expected
            .trim_start_matches(',')
            .trim()
            .trim_start_matches("expected")
            .trim();
        let key = match error::table_header_above(text, span.start) {
            // An unknown table's span is its own header: its name is the key.
            Some(h)
                if !h.is_empty()
                    && !text[..span.start.min(text.len())].trim_end().ends_with('[') =>
            {
                format!("{h}.{name}")
            }
            _ => name.to_string(),
        };
        let expected = if expected.is_empty() {
            "no keys here".to_string()
        } else {
            expected.to_string()
        };
        return ConfigError::UnknownKey {
            file,
            line,
            key,
            expected,
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let key = match error::table_header_above(text, span.end) {
            Some(h) if !h.is_empty() => format!("{h}.{name}"),
            _ => name.to_string(),
        };
        return ConfigError::MissingKey { file, line, key };
    }
    ConfigError::InvalidValue {
        file,
        line,
        key: error::key_at(text, &span),
        expected: message,
    }
}

/// Where a replica keeps its key and state: the `--data-dir` flag, else
/// `node.data_dir`, else `$STATE_DIRECTORY` (set by systemd's
/// `StateDirectory=`), else the per-user data directory.
pub fn resolve_data_dir(
    flag: Option<&Path>,
    config: Option<&Config>,
) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = config.and_then(|c| c.node.data_dir.as_ref().map(|d| c.base_dir.join(d))) {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd passes a colon-separated list when several are configured.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return Ok(PathBuf::from(first));
    }
    directories::ProjectDirs::from("", "", "officemesh")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or(ConfigError::NoDataDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("office.toml"))
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.node.listen.port(), DEFAULT_PORT);
        assert_eq!(c.node.zone, DEFAULT_ZONE);
        assert_eq!(
            c.targets.temperature,
            TargetRange {
                min: 5.0,
                max: 30.0,
                step: 0.5
            }
        );
        assert_eq!(c.gossip, GossipSection::default());
        assert!(c.sensor.is_empty() && c.heating.is_none());
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = parse("[node]\nzone = \"lab\"\nname = \n").unwrap_err();
        match &err {
            ConfigError::Syntax { file, line, .. } => {
                assert_eq!(file, Path::new("office.toml"));
                assert_eq!(*line, 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().starts_with("office.toml:3:"), "{err}");
    }

    #[test]
    fn unknown_key_names_key_line_and_the_expected_keys() {
        let err = parse("[node]\nzone = \"lab\"\n\n[gossip]\nshufle_period_ms = 5\n").unwrap_err();
        match &err {
            ConfigError::UnknownKey {
                line,
                key,
                expected,
                ..
            } => {
                assert_eq!(*line, 5);
                assert_eq!(key, "gossip.shufle_period_ms");
                assert!(expected.contains("shuffle_period_ms"), "{expected}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_table_is_an_unknown_key() {
        let err = parse("[node]\nzone = \"lab\"\n[nodes]\nzone = \"x\"\n").unwrap_err();
        match &err {
            ConfigError::UnknownKey { line, key, .. } => {
                assert_eq!(*line, 3);
                assert_eq!(key, "nodes");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_key_line_and_what_was_expected() {
        let err = parse("[node]\nzone = \"lab\"\nlisten = 7946\n").unwrap_err();
        match &err {
            ConfigError::InvalidValue {
                line,
                key,
                expected,
                ..
            } => {
                assert_eq!(*line, 3);
                assert_eq!(key, "node.listen");
                assert!(
                    expected.contains("socket address") || expected.contains("string"),
                    "{expected}"
                );
            }
            other => panic!("{other:?}"),
        }
        let err = parse("[gossip]\nshuffle_period_ms = \"soon\"\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { line: 2, key, .. } if key == "gossip.shuffle_period_ms"),
            "{err:?}"
        );
    }

    #[test]
    fn missing_key_is_named() {
        let err = parse("[targets.temperature]\nmin = 10.0\nmax = 25.0\n").unwrap_err();
        match &err {
            ConfigError::MissingKey { key, .. } => assert_eq!(key, "targets.temperature.step"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn semantic_errors_name_their_key() {
        let err = parse("[targets.temperature]\nmin = 25.0\nmax = 10.0\nstep = 0.5\n").unwrap_err();
        match &err {
            ConfigError::Invalid { line, key, .. } => {
                assert_eq!(*line, 2);
                assert_eq!(key, "targets.temperature.min");
            }
            other => panic!("{other:?}"),
        }
        let err = parse("[cluster]\nseeds = [\"pi-1:7946\", \"pi-2\"]\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { line: 2, key, .. } if key == "cluster.seeds"),
            "{err:?}"
        );
    }

    #[test]
    fn revoked_ids_and_the_keyring_are_read() {
        let c =
            parse("[cluster]\nkeyring_dir = \"ring\"\nrevoked = [\"00abcdef01234567\"]\n").unwrap();
        assert!(
            c.cluster
                .revoked
                .contains(&crate::NodeId(0x00ab_cdef_0123_4567))
        );
        // The replica core's trust carries them too.
        assert_eq!(c.cluster.trust().unwrap().revoked, c.cluster.revoked);
        assert_eq!(c.keyring_dir(Path::new("/data")), Path::new("ring"));
        assert_eq!(
            parse("").unwrap().keyring_dir(Path::new("/data")),
            Path::new("/data/keyring")
        );
        let err = parse("[cluster]\nrevoked = [\"pi-3\"]\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { line: 2, key, .. } if key == "cluster.revoked"),
            "{err:?}"
        );
    }

    #[test]
    fn device_tables_are_kept_for_the_device_modules() {
        let c = parse("[[sensor]]\nkind = \"simulated\"\nname = \"room\"\n[[sensor]]\nkind = \"ds18b20\"\nname = \"floor\"\n[heating]\nrelay = \"gpio\"\npin = 17\n")
            .unwrap();
        assert_eq!(c.sensor.len(), 2);
        assert!(c.heating.is_some());
    }

    #[test]
    fn the_example_file_parses_and_states_the_defaults() {
        let text = include_str!("../../config.example.toml");
        let c = Config::parse(text, Path::new("config.example.toml")).unwrap();
        let defaults = Config::default();
        assert_eq!(c.gossip, defaults.gossip);
        assert_eq!(c.targets, defaults.targets);
        assert_eq!(c.node.listen, defaults.node.listen);
        assert_eq!(c.node.zone, defaults.node.zone);
    }

    #[test]
    fn the_mqtt_table_is_checked() {
        let c = parse("[mqtt]\nhost = \"broker.lan\"\nbase_topic = \"office\"\n").unwrap();
        let mqtt = c.mqtt.unwrap();
        assert_eq!((mqtt.host.as_str(), mqtt.port()), ("broker.lan", 1883));
        assert_eq!(mqtt.discovery_prefix, "homeassistant");
        let err = parse("[mqtt]\nhost = \"b\"\nprot = 1884\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKey { line: 3, key, .. } if key == "mqtt.prot"),
            "{err:?}"
        );
        let err = parse("[mqtt]\nhost = \"b\"\npassword = \"x\"\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "mqtt.username"),
            "{err:?}"
        );
    }

    #[test]
    fn data_dir_prefers_the_flag_then_the_file() {
        let flag = Path::new("/tmp/flag");
        assert_eq!(resolve_data_dir(Some(flag), None).unwrap(), flag);
        let c = Config {
            node: NodeSection {
                data_dir: Some("/var/x".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            resolve_data_dir(None, Some(&c)).unwrap(),
            Path::new("/var/x")
        );
    }
}
