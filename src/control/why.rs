//! "Why is it heating": the thermostat's decision and its cause, in words
//! an office admin reads in `status` and the TUI.
//!
//! - `on: 0.6 °C below 21.0 (schedule mon-fri 07:00–18:00 (comfort))`
//! - `on: held by min_on for 40 s`
//! - `off: window open since 09:12`
//! - `off: SAFETY: stale reading since 09:12`

use super::effective_target::Effective;
use super::thermostat::{Decision, Reason, Thermostat, ThermostatConfig};
use crate::time::Time;

/// What the node knows beyond the decision itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Context<'a> {
    pub effective: &'a Effective,
    /// The temperature the decision was made on, °C.
    pub celsius: Option<f64>,
    /// `HH:MM` the window was seen open, while heating is held off.
    pub window_since: Option<String>,
    /// `HH:MM` the safe state began, while in it.
    pub safety_since: Option<String>,
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// The decision text on the node, which knows the thermostat's timers.
pub fn explain(
    decision: &Decision,
    thermostat: &Thermostat,
    now: Time,
    cx: &Context<'_>,
) -> String {
    let state = on_off(decision.on);
    let left =
        |hold: std::time::Duration| (thermostat.since() + hold).saturating_since(now).as_secs();
    match decision.reason {
        Reason::MinOnTime => format!(
            "{state}: held by min_on for {} s",
            left(thermostat.config().min_on)
        ),
        Reason::MinOffTime => format!(
            "{state}: held by min_off for {} s",
            left(thermostat.config().min_off)
        ),
        Reason::DutyLimit => format!("{state}: max duty reached"),
        Reason::HeldOff => match &cx.window_since {
            Some(at) => format!("{state}: window open since {at}"),
            None => format!("{state}: held off"),
        },
        Reason::NoReading => safety(state, "no reading", cx),
        Reason::StaleReading => safety(state, "stale reading", cx),
        Reason::NoTarget => match cx.effective.safety {
            Some(cause) => safety(state, &cause.to_string(), cx),
            None => safety(state, "no target", cx),
        },
        Reason::BelowBand | Reason::AboveBand | Reason::InBand => {
            regulating(decision.on, decision.reason, cx)
        }
    }
}

/// The decision text from the replicated state alone (`status` and the
/// TUI on another machine): the heater's state, the reading and the
/// effective target, without the node's timers.
pub fn explain_observed(heater_on: bool, cx: &Context<'_>) -> String {
    let state = on_off(heater_on);
    if let Some(cause) = cx.effective.safety
        && cx.effective.celsius.is_none()
    {
        return safety(state, &cause.to_string(), cx);
    }
    // The node's band is not replicated; the default one is assumed.
    let half = ThermostatConfig::default().hysteresis / 2.0;
    let reason = match (cx.celsius, cx.effective.celsius) {
        (Some(c), Some(t)) if c < t - half => Reason::BelowBand,
        (Some(c), Some(t)) if c > t + half => Reason::AboveBand,
        _ => Reason::InBand,
    };
    regulating(heater_on, reason, cx)
}

fn safety(state: &str, cause: &str, cx: &Context<'_>) -> String {
    match &cx.safety_since {
        Some(at) => format!("{state}: SAFETY: {cause} since {at}"),
        None => format!("{state}: SAFETY: {cause}"),
    }
}

fn regulating(on: bool, reason: Reason, cx: &Context<'_>) -> String {
    let state = on_off(on);
    let why = &cx.effective.reason;
    let (Some(c), Some(t)) = (cx.celsius, cx.effective.celsius) else {
        return format!("{state}: ({why})");
    };
    match reason {
        Reason::BelowBand => format!("{state}: {:.1} °C below {t:.1} ({why})", t - c),
        Reason::AboveBand => format!("{state}: {:.1} °C above {t:.1} ({why})", c - t),
        _ => format!("{state}: in the band around {t:.1} ({why})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Level, SafetyCause, Sample};
    use std::time::Duration;

    fn schedule(celsius: f64) -> Effective {
        Effective {
            celsius: Some(celsius),
            level: Level::Schedule,
            safety: None,
            reason: "schedule mon-fri 07:00–18:00 (comfort)".into(),
            next_change_ms: None,
        }
    }

    fn secs(s: u64) -> Time {
        Time::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn the_texts_an_admin_reads() {
        let eff = schedule(21.0);
        let cx = Context {
            effective: &eff,
            celsius: Some(20.4),
            window_since: None,
            safety_since: None,
        };
        let mut t = Thermostat::new(ThermostatConfig::default(), secs(0));
        let d = t.update(
            secs(120),
            Some(21.0),
            Some(Sample {
                celsius: 20.4,
                at: secs(120),
            }),
        );
        assert_eq!(
            explain(&d, &t, secs(120), &cx),
            "on: 0.6 °C below 21.0 (schedule mon-fri 07:00–18:00 (comfort))"
        );
        let d = t.update(
            secs(200),
            Some(21.0),
            Some(Sample {
                celsius: 21.5,
                at: secs(200),
            }),
        );
        assert_eq!(
            explain(&d, &t, secs(200), &cx),
            "on: held by min_on for 40 s"
        );
        let window = Context {
            window_since: Some("09:12".into()),
            ..cx.clone()
        };
        let d = t.update_held(
            secs(300),
            Some(21.0),
            Some(Sample {
                celsius: 19.0,
                at: secs(300),
            }),
            true,
        );
        assert_eq!(
            explain(&d, &t, secs(300), &window),
            "off: window open since 09:12"
        );
        let stale = Context {
            safety_since: Some("09:12".into()),
            ..cx.clone()
        };
        let d = t.update(
            secs(600),
            Some(21.0),
            Some(Sample {
                celsius: 19.0,
                at: secs(300),
            }),
        );
        assert_eq!(
            explain(&d, &t, secs(600), &stale),
            "off: SAFETY: stale reading since 09:12"
        );
        let none = Effective {
            celsius: None,
            level: Level::Safety,
            safety: Some(SafetyCause::NoTarget),
            reason: "no target and no schedule: heater off".into(),
            next_change_ms: None,
        };
        let observed = Context {
            effective: &none,
            ..stale
        };
        assert_eq!(
            explain_observed(false, &observed),
            "off: SAFETY: no target and no schedule since 09:12"
        );
        assert_eq!(
            explain_observed(true, &cx),
            "on: 0.6 °C below 21.0 (schedule mon-fri 07:00–18:00 (comfort))"
        );
        let in_band = Context {
            celsius: Some(20.9),
            ..cx.clone()
        };
        assert_eq!(
            explain_observed(false, &in_band),
            "off: in the band around 21.0 (schedule mon-fri 07:00–18:00 (comfort))"
        );
    }
}
