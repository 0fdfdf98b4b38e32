//! `[office]`: what every node of the office must agree on, starting with
//! the time zone its heating schedules are written in.

use jiff::tz::TimeZone;
use serde::Deserialize;

/// `[office]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfficeSection {
    /// The IANA time zone schedules are evaluated in ("Europe/Lisbon").
    /// Default: the machine's own time zone. Give it explicitly on every
    /// node: a Pi set to UTC would switch an hour off in summer.
    pub timezone: Option<String>,
}

/// A time zone name the zone database does not know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown time zone {name:?} (an IANA name such as \"Europe/Lisbon\")")]
pub struct UnknownTimeZone {
    pub name: String,
}

impl OfficeSection {
    /// The office's time zone: the configured one, else the system's.
    pub fn time_zone(&self) -> Result<TimeZone, UnknownTimeZone> {
        match &self.timezone {
            Some(name) => TimeZone::get(name).map_err(|_| UnknownTimeZone { name: name.clone() }),
            None => Ok(TimeZone::system()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_zone_loads_and_a_typo_is_named() {
        let office = OfficeSection {
            timezone: Some("Europe/Lisbon".into()),
        };
        assert!(office.time_zone().is_ok());
        let typo = OfficeSection {
            timezone: Some("Europe/Lisboa".into()),
        };
        assert_eq!(
            typo.time_zone().unwrap_err(),
            UnknownTimeZone {
                name: "Europe/Lisboa".into()
            }
        );
        assert!(OfficeSection::default().time_zone().is_ok());
    }
}
