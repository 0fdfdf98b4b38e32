//! Recent readings per sensor, kept by the TUI since it attached, for the
//! sparklines of the Sensors view. The office state holds only the latest
//! reading; history is local and bounded.

use std::collections::{BTreeMap, VecDeque};

use super::snapshot::OfficeSnapshot;
use crate::NodeId;

/// How many readings per sensor are kept: enough for a sparkline as wide as
/// a 120-column terminal allows, small enough for hundreds of sensors.
pub const HISTORY_POINTS: usize = 60;

/// Readings seen per (node, sensor, quantity), oldest first, as (measured-at ms, value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SensorHistory {
    series: BTreeMap<(NodeId, String, String), VecDeque<(u64, f64)>>,
}

impl SensorHistory {
    /// Adds every reading newer than the last one kept for its sensor.
    pub fn record(&mut self, snapshot: &OfficeSnapshot) {
        for reading in &snapshot.readings {
            let series = self
                .series
                .entry((
                    reading.node,
                    reading.sensor.clone(),
                    reading.quantity.clone(),
                ))
                .or_default();
            if series
                .back()
                .is_some_and(|(at, _)| *at >= reading.measured_at_ms)
            {
                continue;
            }
            if series.len() == HISTORY_POINTS {
                series.pop_front();
            }
            series.push_back((reading.measured_at_ms, reading.value));
        }
    }

    /// The values kept for a sensor measured at or before `until_ms` (so a
    /// frozen display shows a history consistent with its readings).
    pub fn values(&self, node: NodeId, sensor: &str, quantity: &str, until_ms: u64) -> Vec<f64> {
        self.series
            .get(&(node, sensor.to_string(), quantity.to_string()))
            .map(|s| {
                s.iter()
                    .filter(|(at, _)| *at <= until_ms)
                    .map(|(_, v)| *v)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::snapshot::SensorReading;

    fn snapshot_with(value: f64, at: u64) -> OfficeSnapshot {
        OfficeSnapshot {
            readings: vec![SensorReading {
                node: NodeId(1),
                sensor: "bme280".into(),
                zone: "Kitchen".into(),
                quantity: "temperature".into(),
                value,
                unit: "°C".into(),
                measured_at_ms: at,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn keeps_new_readings_only_and_stays_bounded() {
        let mut history = SensorHistory::default();
        history.record(&snapshot_with(20.0, 1_000));
        history.record(&snapshot_with(20.0, 1_000));
        assert_eq!(
            history.values(NodeId(1), "bme280", "temperature", u64::MAX),
            vec![20.0]
        );
        for i in 0..(HISTORY_POINTS as u64 + 10) {
            history.record(&snapshot_with(i as f64, 2_000 + i));
        }
        let values = history.values(NodeId(1), "bme280", "temperature", u64::MAX);
        assert_eq!(values.len(), HISTORY_POINTS);
        assert_eq!(values.last(), Some(&((HISTORY_POINTS + 9) as f64)));
        assert!(
            history
                .values(NodeId(1), "bme280", "temperature", 1_999)
                .is_empty()
        );
    }
}
