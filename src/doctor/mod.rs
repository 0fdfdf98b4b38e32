//! `officemesh doctor`: is this Pi ready to run a node? One line per
//! check, each failure with what to do about it, so an admin finds a
//! world-readable key or an I2C bus left switched off before the node
//! does, and without reading its log.
//!
//! Each kind of check is a file: [`settings_origin`] (the config and where
//! each setting came from), [`key_files`], [`data_dir`], [`devices`],
//! [`clock`] and [`seeds`] (do they answer the handshake with our key).

pub mod clock;
pub mod data_dir;
pub mod devices;
pub mod key_files;
pub mod seeds;
pub mod settings_origin;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, resolve_data_dir};

pub use settings_origin::{Origin, SettingOrigin};

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `key file /etc/officemesh/cluster.key`.
    pub name: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, for a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Everything `doctor` found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub config: PathBuf,
    pub settings: Vec<SettingOrigin>,
    pub checks: Vec<Check>,
    /// Whether every check passed.
    pub ok: bool,
}

/// Runs every check for the node configured at `config_path`;
/// `data_dir` is the `--data-dir` the node would be started with.
pub async fn run(config_path: &Path, data_dir: Option<&Path>) -> Report {
    let mut checks = Vec::new();
    let mut settings = Vec::new();
    let config = match Config::load(config_path) {
        Ok(config) => {
            checks.push(Check::pass(
                "config",
                format!("{} parses", config_path.display()),
            ));
            Some(config)
        }
        Err(error) => {
            checks.push(Check::fail(
                "config",
                error.to_string(),
                "fix the file (config.example.toml lists every key with its default)",
            ));
            None
        }
    };
    if let Some(config) = config {
        match resolve_data_dir(data_dir, Some(&config)) {
            Ok(dir) => {
                settings = settings_origin::describe(&config, config_path, data_dir, &dir);
                checks.extend(key_files::check(
                    &config.key_file(&dir),
                    &config.keyring_dir(&dir),
                    &dir,
                ));
                checks.push(data_dir::check(&dir));
                checks.extend(devices::check(&config));
                checks.push(clock::check());
                checks.extend(seeds::check(&config, &dir).await);
            }
            Err(error) => checks.push(Check::fail(
                "data directory",
                error.to_string(),
                "set node.data_dir in the config or pass --data-dir",
            )),
        }
    }
    let ok = checks.iter().all(|c| c.status == Status::Pass);
    Report {
        config: config_path.to_path_buf(),
        settings,
        checks,
        ok,
    }
}
