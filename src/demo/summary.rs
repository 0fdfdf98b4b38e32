//! What a headless demo prints at the end: per zone the target, the final
//! temperature and how much the heater ran.

use std::fmt;

use serde::Serialize;

use super::heating_day::HeatingDay;

/// One zone at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSummary {
    pub zone: String,
    /// The zone's winning temperature target on its own node, °C (the
    /// effective target, which a schedule may override, is in `heating`).
    pub target: Option<f32>,
    /// The room's true temperature, °C.
    pub temperature: f64,
    /// Fraction of the simulated run the heater was on.
    pub heating_duty: f64,
    /// The nodes in the zone.
    pub nodes: Vec<String>,
    /// Schedule switches expected and followed, cycles, on-time and the
    /// minimum times (`None` before the heater's first decision).
    pub heating: Option<HeatingDay>,
}

/// The whole office at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub zones: Vec<ZoneSummary>,
    /// Device seconds per wall second.
    pub speed: f64,
    pub wall_seconds: f64,
    pub simulated_seconds: f64,
    /// Whether every node saw the same winning targets.
    pub targets_agree: bool,
    /// Schedule switches no zone followed.
    pub switches_missed: usize,
    /// Whether min_on and min_off held in every zone.
    pub min_times_held: bool,
}

impl Summary {
    /// Schedule switches the zones did not follow.
    pub fn count_missed(zones: &[ZoneSummary]) -> usize {
        zones
            .iter()
            .filter_map(|z| z.heating.as_ref())
            .map(|h| h.switches_expected - h.switches_followed)
            .sum()
    }

    /// Whether min_on and min_off held in every zone.
    pub fn all_held(zones: &[ZoneSummary]) -> bool {
        zones
            .iter()
            .filter_map(|z| z.heating.as_ref())
            .all(|h| h.min_times_held)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>8} {:>12} {:>8} {:>9} {:>7} {:>8} {:>8}  nodes",
            "zone", "target", "temperature", "heating", "switches", "cycles", "on", "energy"
        )?;
        for z in &self.zones {
            // What the zone is held at: the effective target when the
            // heating has decided, else the zone's target.
            let target = z
                .heating
                .as_ref()
                .and_then(|h| h.effective)
                .or(z.target.map(f64::from))
                .map_or_else(|| "-".to_string(), |t| format!("{t:.1} °C"));
            let (switches, cycles, on, energy) = match &z.heating {
                Some(h) => (
                    format!("{}/{}", h.switches_followed, h.switches_expected),
                    h.meter.cycles.to_string(),
                    format!("{:.0} min", h.on_seconds / 60.0),
                    h.energy_kwh
                        .map_or_else(|| "-".into(), |k| format!("{k:.1} kWh")),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            writeln!(
                f,
                "{:<16} {:>8} {:>9.2} °C {:>7.0}% {:>9} {:>7} {:>8} {:>8}  {}",
                z.zone,
                target,
                z.temperature,
                100.0 * z.heating_duty,
                switches,
                cycles,
                on,
                energy,
                z.nodes.join(", ")
            )?;
            if let Some(h) = &z.heating {
                writeln!(f, "{:<16} {}", "", h.why)?;
            }
        }
        writeln!(
            f,
            "schedule switches missed: {}; min_on/min_off held: {}",
            self.switches_missed,
            if self.min_times_held { "yes" } else { "NO" }
        )?;
        write!(
            f,
            "{:.0} s at {}× = {:.0} simulated minutes; targets {} on every node",
            self.wall_seconds,
            self.speed,
            self.simulated_seconds / 60.0,
            if self.targets_agree {
                "agree"
            } else {
                "do not yet agree"
            }
        )
    }
}
