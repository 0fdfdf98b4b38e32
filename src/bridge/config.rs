//! `[mqtt]`: the broker the bridge publishes to and the topics it uses.

use std::path::PathBuf;

use serde::Deserialize;

/// The broker's port when `port` is not set (1883, or 8883 with TLS: the
/// IANA ports for MQTT and MQTT over TLS).
pub const DEFAULT_PORT: u16 = 1883;
pub const DEFAULT_TLS_PORT: u16 = 8883;
/// Where every state, command and availability topic lives.
pub const DEFAULT_BASE_TOPIC: &str = "officemesh";
/// Home Assistant's default discovery prefix.
pub const DEFAULT_DISCOVERY_PREFIX: &str = "homeassistant";
/// Seconds between MQTT keep-alive pings: a broker that vanished without
/// closing the connection is noticed within about this long, and so is a
/// bridge that vanished (its last will is sent).
pub const DEFAULT_KEEP_ALIVE: u64 = 15;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSection {
    /// The broker's host name or address.
    pub host: String,
    /// Default 1883, or 8883 when `tls` is on.
    pub port: Option<u16>,
    /// Connect over TLS, checking the broker's certificate against
    /// `ca_file` (else the system's trusted roots).
    pub tls: bool,
    /// PEM file of the authority that signed the broker's certificate;
    /// relative paths are taken from the configuration file's directory.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    /// Prefer `password_file`: a config file is often world-readable.
    pub password: Option<String>,
    /// A file holding the password (one line; surrounding whitespace is
    /// ignored).
    pub password_file: Option<PathBuf>,
    /// The MQTT client id. Default: `officemesh-bridge-HOSTNAME`. Two
    /// bridges connected with one client id knock each other off the
    /// broker in turn.
    pub client_id: Option<String>,
    /// Prefix of every state, command and availability topic.
    pub base_topic: String,
    /// Where Home Assistant looks for discovery configs (its MQTT
    /// integration's "discovery prefix").
    pub discovery_prefix: String,
    /// Seconds between keep-alive pings.
    pub keep_alive: u64,
}

impl Default for MqttSection {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: None,
            tls: false,
            ca_file: None,
            username: None,
            password: None,
            password_file: None,
            client_id: None,
            base_topic: DEFAULT_BASE_TOPIC.into(),
            discovery_prefix: DEFAULT_DISCOVERY_PREFIX.into(),
            keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }
}

impl MqttSection {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls {
            DEFAULT_TLS_PORT
        } else {
            DEFAULT_PORT
        })
    }

    /// The client id to connect with.
    pub fn client_id(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("officemesh-bridge-{}", crate::config::hostname()))
    }

    /// Checks what serde cannot: the key at fault and why.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.host.trim().is_empty() {
            return Err(("host", "must not be empty".into()));
        }
        if self.port == Some(0) {
            return Err(("port", "must be 1-65535".into()));
        }
        if self.password.is_some() && self.password_file.is_some() {
            return Err((
                "password_file",
                "set `password` or `password_file`, not both".into(),
            ));
        }
        if (self.password.is_some() || self.password_file.is_some()) && self.username.is_none() {
            return Err(("username", "a password needs a username".into()));
        }
        if self.ca_file.is_some() && !self.tls {
            return Err(("ca_file", "only used with `tls = true`".into()));
        }
        if self.client_id.as_deref().is_some_and(str::is_empty) {
            return Err(("client_id", "must not be empty".into()));
        }
        for (key, topic) in [
            ("base_topic", &self.base_topic),
            ("discovery_prefix", &self.discovery_prefix),
        ] {
            check_topic_prefix(topic).map_err(|reason| (key, reason))?;
        }
        if self.keep_alive < 5 {
            return Err(("keep_alive", "must be at least 5 seconds".into()));
        }
        Ok(())
    }
}

/// A prefix every topic is built on: not empty, no wildcards, no leading
/// or trailing `/` (which would make an empty topic level).
fn check_topic_prefix(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("must not be empty".into());
    }
    if topic.contains(['+', '#', '\0']) {
        return Err(format!("`{topic}` may not contain `+`, `#` or NUL"));
    }
    if topic.starts_with('/') || topic.ends_with('/') || topic.contains("//") {
        return Err(format!("`{topic}` has an empty level"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_tls() {
        let mut m = MqttSection::default();
        assert!(m.validate().is_ok());
        assert_eq!(m.port(), 1883);
        m.tls = true;
        assert_eq!(m.port(), 8883);
        assert!(m.client_id().starts_with("officemesh-bridge-"));
    }

    /// The commented `[mqtt]` block of `config.example.toml`, uncommented
    /// (with TLS on, which its `ca_file` needs), is a valid table stating
    /// the defaults it claims.
    #[test]
    fn the_example_block_parses() {
        let text = include_str!("../../config.example.toml");
        let start = text.find("# [mqtt]").unwrap();
        let block: String = text[start..]
            .lines()
            .take_while(|l| l.starts_with("# "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect::<String>()
            .replace("tls = false", "tls = true");
        let config = crate::config::Config::parse(&block, std::path::Path::new("example")).unwrap();
        let mqtt = config.mqtt.unwrap();
        assert_eq!(mqtt.base_topic, DEFAULT_BASE_TOPIC);
        assert_eq!(mqtt.discovery_prefix, DEFAULT_DISCOVERY_PREFIX);
        assert_eq!(mqtt.keep_alive, DEFAULT_KEEP_ALIVE);
        assert_eq!(mqtt.port(), DEFAULT_PORT);
    }

    #[test]
    fn contradictions_name_their_key() {
        let m = MqttSection {
            password: Some("x".into()),
            ..MqttSection::default()
        };
        assert_eq!(m.validate().unwrap_err().0, "username");
        let m = MqttSection {
            base_topic: "office/#".into(),
            ..MqttSection::default()
        };
        assert_eq!(m.validate().unwrap_err().0, "base_topic");
        let m = MqttSection {
            ca_file: Some("ca.pem".into()),
            ..MqttSection::default()
        };
        assert_eq!(m.validate().unwrap_err().0, "ca_file");
    }
}
