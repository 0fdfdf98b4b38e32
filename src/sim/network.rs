//! The network the simulated nodes talk over: per-link latency, loss,
//! failure detection and partitions.
//!
//! HyParView assumes TCP (DSN 2007 §4.1: the active view's links double as
//! failure detectors), so the model follows TCP: messages on one link arrive
//! in order, a send to a dead peer fails after about one round trip, a
//! crashed peer is noticed by its neighbours after a detection delay, and a
//! partition stalls the connections across the cut until a timeout breaks
//! them: a short one stands for a transport keepalive, TCP's own (some
//! fifteen minutes of retransmissions) leaves the replicas to notice the
//! cut themselves.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::splitmix::splitmix64;

/// How long a message takes on one link. A uniform range is drawn once per
/// link (not per message), so every link keeps its own steady latency as a
/// real network path does, and a link's messages stay in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    Fixed(Duration),
    Uniform { min: Duration, max: Duration },
}

impl Latency {
    /// The one-way latency of the link between `a` and `b` (symmetric),
    /// derived from `seed` by hashing so that 10,000 nodes need no table of
    /// 10⁸ pairs.
    pub fn of_link(&self, seed: u64, a: u32, b: u32) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => {
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                let h = splitmix64(seed ^ ((u64::from(lo) << 32) | u64::from(hi)));
                let span = max.as_micros().saturating_sub(min.as_micros()) as u64 + 1;
                min + Duration::from_micros(h % span)
            }
        }
    }
}

/// The text is not a latency (`MS` or `MIN..MAX`, in milliseconds).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a latency: expected MS or MIN..MAX in milliseconds, MIN ≤ MAX")]
pub struct ParseLatencyError(pub String);

impl FromStr for Latency {
    type Err = ParseLatencyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseLatencyError(s.to_string());
        let ms = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| err())
        };
        match s.split_once("..") {
            None => Ok(Latency::Fixed(ms(s)?)),
            Some((lo, hi)) => {
                let (min, max) = (ms(lo)?, ms(hi)?);
                if min > max {
                    return Err(err());
                }
                if min == max {
                    return Ok(Latency::Fixed(min));
                }
                Ok(Latency::Uniform { min, max })
            }
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::Fixed(d) => write!(f, "{} ms", d.as_millis()),
            Latency::Uniform { min, max } => {
                write!(f, "{}..{} ms", min.as_millis(), max.as_millis())
            }
        }
    }
}

/// Everything about the network that a scenario may change.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    pub latency: Latency,
    /// Probability that one message is lost (0 on TCP; kept to stress the
    /// broadcast layer's repair paths).
    pub loss: f64,
    /// How long the neighbours of a crashed node take to see their
    /// connection to it fail (a reset, or a keepalive running out).
    pub crash_detection: Duration,
    /// How long a connection across a partition survives before it breaks;
    /// also how long opening a new connection across the cut takes to fail.
    /// Messages sent across the cut wait for the heal until then, as TCP
    /// retransmissions would.
    pub partition_timeout: Duration,
    /// How long a dial across the cut takes to fail, where the driver's
    /// connect timeout is shorter than `partition_timeout` (the mesh of
    /// shipped nodes; `None`: `partition_timeout`).
    pub dial_timeout: Option<Duration>,
    /// Whether frames held on a connection across a healed cut wait for
    /// TCP's next retransmission (its timer doubles while the cut lasts,
    /// up to [`RETRANSMIT_MAX`]) rather than go through at once.
    pub retransmit_backoff: bool,
}

/// TCP's longest retransmission interval (Linux's `TCP_RTO_MAX`).
pub const RETRANSMIT_MAX: Duration = Duration::from_secs(120);

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency: Latency::Uniform {
                min: Duration::from_millis(10),
                max: Duration::from_millis(50),
            },
            loss: 0.0,
            crash_detection: Duration::from_millis(1_000),
            partition_timeout: Duration::from_secs(3),
            dial_timeout: None,
            retransmit_backoff: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixed_and_ranges() {
        assert_eq!(
            "100".parse(),
            Ok(Latency::Fixed(Duration::from_millis(100)))
        );
        assert_eq!(
            "10..50".parse(),
            Ok(Latency::Uniform {
                min: Duration::from_millis(10),
                max: Duration::from_millis(50)
            })
        );
        assert_eq!("7..7".parse(), Ok(Latency::Fixed(Duration::from_millis(7))));
        assert!("50..10".parse::<Latency>().is_err());
        assert!("fast".parse::<Latency>().is_err());
    }

    #[test]
    fn link_latency_is_symmetric_stable_and_in_range() {
        let l: Latency = "10..50".parse().unwrap();
        for a in 0..50u32 {
            for b in 0..50u32 {
                let d = l.of_link(7, a, b);
                assert_eq!(d, l.of_link(7, b, a));
                assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(50));
            }
        }
        let spread: std::collections::BTreeSet<_> = (0..100).map(|b| l.of_link(7, 0, b)).collect();
        assert!(spread.len() > 50, "latencies should vary between links");
    }
}
