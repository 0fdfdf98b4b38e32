//! What signing costs: one target write made and signed, and the same
//! write checked by a replica that has never seen it (its signature
//! verified, its rights and claims checked), timed over many writes.
//!
//! The figure a Pi's budget needs: a node verifies every write it admits
//! (by broadcast or anti-entropy) once, and signs each of its own.

use std::time::Instant;

use serde::Serialize;

use crate::config::TargetsSection;
use crate::crdt::{OfficeState, Quantity, TargetKey, TargetValue, WriteKey, Writer};
use crate::replica::admission::{Admission, Holding, Route};
use crate::replica::authorship::Trust;
use crate::time::Time;

/// Microseconds per write, averaged over `writes`.
#[derive(Clone, Debug, Serialize)]
pub struct SigningReport {
    pub writes: usize,
    /// How many of them the fresh replicas admitted (all, or the check
    /// timed is not the one a real write meets).
    pub admitted: usize,
    /// Making a target write: a dot, its content digest and its signature.
    pub sign_us: f64,
    /// Admitting that write at a replica that does not hold it: decoding
    /// aside, the range check, the signature, the write rights and the
    /// claims.
    pub verify_us: f64,
    /// The write's encoded delta.
    pub delta_bytes: usize,
}

impl SigningReport {
    pub fn text(&self) -> String {
        format!(
            "signing: {} target writes ({} admitted); sign {:.1} µs/write, verify and admit {:.1} µs/write; delta {} bytes\n",
            self.writes, self.admitted, self.sign_us, self.verify_us, self.delta_bytes
        )
    }
}

/// Times `writes` target writes by one operator, each signed and then
/// admitted by a fresh replica.
pub fn measure(writes: usize) -> SigningReport {
    let writes = writes.max(1);
    let operator = WriteKey::from_seed([7; 32]);
    let mut writer = Writer::signing(operator.clone()).carry_key();
    let key = TargetKey::new("meeting-2", Quantity::Temperature);
    let wall_ms = 1_800_000_000_000;
    let value = |i: usize| TargetValue {
        value: 19.0 + (i % 8) as f32 * 0.5,
        unit: Quantity::Temperature.default_unit(),
        set_by: "alice".into(),
    };
    let mut state = OfficeState::new();
    let started = Instant::now();
    let deltas: Vec<_> = (0..writes)
        .map(|i| {
            state
                .set_target(&mut writer, wall_ms + i as u64, key.clone(), value(i))
                .delta
        })
        .collect();
    let sign = started.elapsed();
    let delta_bytes = deltas
        .last()
        .and_then(|d| d.encode().ok())
        .map_or(0, |b| b.len());
    let empty = OfficeState::new();
    let started = Instant::now();
    let mut admitted = 0;
    for delta in &deltas {
        let mut admission = Admission::new(
            WriteKey::from_seed([8; 32]).id(),
            TargetsSection::default(),
            Trust::default(),
        );
        let mut d = delta.clone();
        let dropped = admission.filter(
            Time::ZERO,
            wall_ms + writes as u64,
            operator.id(),
            Route::Broadcast,
            &mut d,
            Holding {
                state: &empty,
                my_counter: 0,
            },
        );
        admitted += usize::from(dropped == 0);
    }
    let verify = started.elapsed();
    SigningReport {
        writes,
        admitted,
        sign_us: sign.as_secs_f64() * 1e6 / writes as f64,
        verify_us: verify.as_secs_f64() * 1e6 / writes as f64,
        delta_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timed_write_is_admitted() {
        let report = measure(20);
        assert_eq!(report.admitted, 20);
        assert!(report.delta_bytes > 64);
    }
}
