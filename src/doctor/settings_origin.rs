//! Where each setting came from: the file, a flag, systemd's environment
//! or the built-in default. A node that "ignores" a setting is most often
//! reading another file, or a key in the wrong table.

use std::path::Path;

use serde::Serialize;

use crate::config::Config;

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    File,
    Flag,
    /// `$STATE_DIRECTORY`, set by systemd's `StateDirectory=`.
    Environment,
    Default,
}

/// One setting, its effective value and its origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettingOrigin {
    pub key: String,
    pub value: String,
    pub from: Origin,
}

/// The settings a node's behaviour hangs on, with their origins.
pub fn describe(
    config: &Config,
    config_path: &Path,
    data_dir_flag: Option<&Path>,
    data_dir: &Path,
) -> Vec<SettingOrigin> {
    let table: toml::Table = std::fs::read_to_string(config_path)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_default();
    let in_file = |section: &str, key: &str| {
        table
            .get(section)
            .and_then(|s| s.as_table())
            .is_some_and(|s| s.contains_key(key))
    };
    let origin = |section: &str, key: &str| {
        if in_file(section, key) {
            Origin::File
        } else {
            Origin::Default
        }
    };
    let setting = |section: &str, key: &str, value: String| SettingOrigin {
        key: format!("{section}.{key}"),
        value,
        from: origin(section, key),
    };
    let name = config
        .node
        .name
        .clone()
        .unwrap_or_else(crate::config::hostname);
    let data_dir_from = if data_dir_flag.is_some() {
        Origin::Flag
    } else if in_file("node", "data_dir") {
        Origin::File
    } else if std::env::var_os("STATE_DIRECTORY").is_some_and(|d| !d.is_empty()) {
        Origin::Environment
    } else {
        Origin::Default
    };
    let g = &config.gossip;
    vec![
        setting("node", "name", name),
        setting("node", "zone", config.node.zone.clone()),
        setting("node", "listen", config.node.listen.to_string()),
        SettingOrigin {
            key: "node.data_dir".into(),
            value: data_dir.display().to_string(),
            from: data_dir_from,
        },
        setting(
            "cluster",
            "key_file",
            config.key_file(data_dir).display().to_string(),
        ),
        setting("cluster", "seeds", format!("{:?}", config.cluster.seeds)),
        setting(
            "metrics",
            "listen",
            config
                .metrics
                .listen
                .map_or_else(|| "off".to_string(), |a| a.to_string()),
        ),
        setting("gossip", "active_view_size", g.active_view_size.to_string()),
        setting(
            "gossip",
            "passive_view_size",
            g.passive_view_size.to_string(),
        ),
        setting(
            "gossip",
            "shuffle_period_ms",
            g.shuffle_period_ms.to_string(),
        ),
        setting(
            "gossip",
            "anti_entropy_period_ms",
            g.anti_entropy_period_ms.to_string(),
        ),
    ]
}
