//! Nearest-rank quantiles of delays: what every simulator figure of
//! latency is reported as.

use std::time::Duration;

use serde::Serialize;

/// Nearest-rank quantiles of a set of delays, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Quantiles {
    pub fn of(delays: &mut [Duration]) -> Self {
        if delays.is_empty() {
            return Quantiles::default();
        }
        delays.sort_unstable();
        let rank = |q: f64| {
            let i = ((q * delays.len() as f64).ceil() as usize).clamp(1, delays.len()) - 1;
            ms(delays[i])
        };
        Quantiles {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: ms(delays[delays.len() - 1]),
        }
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1_000.0
}
