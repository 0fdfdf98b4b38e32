//! Presets: a zone's named set-points (comfort, eco, away), replicated
//! under `Preset(zone, name)` so schedules can say "comfort" and an
//! operator changes what comfort means in one write.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::heating_limits::{CelsiusError, HeatingLimits, ZoneError};

/// The presets every zone has. Away doubles as frost protection: the
/// lowest temperature an empty office is kept at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PresetName {
    Comfort,
    Eco,
    Away,
}

impl PresetName {
    pub const ALL: [PresetName; 3] = [PresetName::Comfort, PresetName::Eco, PresetName::Away];

    /// The value a zone uses while no operator has written the preset:
    /// 21 °C for people at work, 17 °C for a set-back, 8 °C against frost.
    pub fn default_celsius(self) -> f32 {
        match self {
            PresetName::Comfort => 21.0,
            PresetName::Eco => 17.0,
            PresetName::Away => 8.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PresetName::Comfort => "comfort",
            PresetName::Eco => "eco",
            PresetName::Away => "away",
        }
    }
}

impl fmt::Display for PresetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no preset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a preset (comfort, eco, away or frost)")]
pub struct UnknownPreset(pub String);

impl FromStr for PresetName {
    type Err = UnknownPreset;

    /// `frost` is accepted for `away`: installers call it that.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "comfort" => Ok(PresetName::Comfort),
            "eco" => Ok(PresetName::Eco),
            "away" | "frost" => Ok(PresetName::Away),
            _ => Err(UnknownPreset(s.to_string())),
        }
    }
}

/// `Preset(zone, name)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PresetKey {
    pub zone: String,
    pub preset: PresetName,
}

impl PresetKey {
    pub fn new(zone: impl Into<String>, preset: PresetName) -> Self {
        PresetKey {
            zone: zone.into(),
            preset,
        }
    }
}

/// What a preset is set to, in °C.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PresetValue {
    pub celsius: f32,
    /// Who set it, for people: "alice@pi-3".
    pub set_by: String,
}

/// Why a preset write is refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PresetError {
    #[error("zone: {0}")]
    Zone(#[from] ZoneError),
    #[error("{preset}: {source}")]
    Celsius {
        preset: PresetName,
        source: CelsiusError,
    },
    #[error("set-by is {len} bytes, at most {max}")]
    SetByTooLong { len: usize, max: usize },
}

impl PresetValue {
    /// Checks a preset write against `limits`: the admission of a
    /// `Preset` key, and what the CLI checks before it writes.
    pub fn check(&self, key: &PresetKey, limits: &HeatingLimits) -> Result<(), PresetError> {
        limits.check_zone(&key.zone)?;
        limits
            .check_celsius(self.celsius)
            .map_err(|source| PresetError::Celsius {
                preset: key.preset,
                source,
            })?;
        if !limits.label_fits(&self.set_by) {
            return Err(PresetError::SetByTooLong {
                len: self.set_by.len(),
                max: limits.max_label_len,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frost_is_away_and_unknown_words_are_refused() {
        assert_eq!("frost".parse::<PresetName>(), Ok(PresetName::Away));
        assert_eq!("Comfort".parse::<PresetName>(), Ok(PresetName::Comfort));
        assert!("cosy".parse::<PresetName>().is_err());
    }

    #[test]
    fn a_preset_outside_the_bounds_or_with_a_long_label_is_refused() {
        let limits = HeatingLimits::default();
        let key = PresetKey::new("kitchen", PresetName::Eco);
        let ok = PresetValue {
            celsius: 17.5,
            set_by: "alice".into(),
        };
        assert_eq!(ok.check(&key, &limits), Ok(()));
        let hot = PresetValue {
            celsius: 45.0,
            ..ok.clone()
        };
        assert!(matches!(
            hot.check(&key, &limits),
            Err(PresetError::Celsius { .. })
        ));
        let nan = PresetValue {
            celsius: f32::NAN,
            ..ok.clone()
        };
        assert!(nan.check(&key, &limits).is_err());
        let long = PresetValue {
            set_by: "x".repeat(200),
            ..ok.clone()
        };
        assert!(matches!(
            long.check(&key, &limits),
            Err(PresetError::SetByTooLong { .. })
        ));
        let no_zone = PresetKey::new("", PresetName::Eco);
        assert!(matches!(
            ok.check(&no_zone, &limits),
            Err(PresetError::Zone(ZoneError::Empty))
        ));
    }
}
