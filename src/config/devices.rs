//! Where the device tables go: `[[sensor]]` and `[heating]`.
//!
//! Their schemas belong to the device modules (`sensors::SensorConfig`,
//! `control::HeatingConfig`); until those are wired in, the tables are
//! kept as parsed TOML so a configuration that has them still loads. At
//! that point these aliases become the device types and the unknown-key
//! checks of those types apply.

/// One `[[sensor]]` table (to become `crate::sensors::SensorConfig`).
pub type SensorTable = toml::Table;

/// The `[heating]` table (to become `crate::control::HeatingConfig`).
pub type HeatingTable = toml::Table;
