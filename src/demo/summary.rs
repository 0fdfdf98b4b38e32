//! What a headless demo prints at the end: per zone the target, the final
//! temperature and how much the heater ran.

use std::fmt;

use serde::Serialize;

/// One zone at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSummary {
    pub zone: String,
    /// The zone's winning temperature target on its own node, °C.
    pub target: Option<f32>,
    /// The room's true temperature, °C.
    pub temperature: f64,
    /// Fraction of the simulated run the heater was on.
    pub heating_duty: f64,
    /// The nodes in the zone.
    pub nodes: Vec<String>,
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
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>8} {:>12} {:>8}  nodes",
            "zone", "target", "temperature", "heating"
        )?;
        for z in &self.zones {
            let target = z
                .target
                .map_or_else(|| "-".to_string(), |t| format!("{t:.1} °C"));
            writeln!(
                f,
                "{:<16} {:>8} {:>9.2} °C {:>7.0}%  {}",
                z.zone,
                target,
                z.temperature,
                100.0 * z.heating_duty,
                z.nodes.join(", ")
            )?;
        }
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
