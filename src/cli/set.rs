//! `officemesh set target ZONE VALUE [--for DURATION | --hold]
//! [--quantity temperature] [--wait stored|converged] [--timeout SECS]`
//! and `officemesh set resume ZONE`.
//!
//! Without `--for` or `--hold` the zone's standing target is written (the
//! lowest level of the heating's priority resolution). With them, an
//! operator override: `--for 2h` is a boost that ends by itself on every
//! node at the same moment (its absolute expiry travels in the value),
//! `--hold` lasts until `set resume` clears it.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use officemesh::crdt::{OverrideValue, Quantity};
use officemesh::node::check_target;
use officemesh::observer::Observer;
use tokio::time::Instant;

use super::attach::{AttachArgs, attach, runtime};
pub use super::confirm::WaitFor;
use super::confirm::confirm;

#[derive(Debug, clap::Subcommand)]
pub enum SetWhat {
    /// Set the target of a zone, or override it for a while.
    Target(SetTargetArgs),
    /// End a zone's override: back to its schedule (or target).
    Resume(ResumeArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum QuantityArg {
    Temperature,
    Humidity,
    Pressure,
    Co2,
    Illuminance,
}

impl From<QuantityArg> for Quantity {
    fn from(q: QuantityArg) -> Quantity {
        match q {
            QuantityArg::Temperature => Quantity::Temperature,
            QuantityArg::Humidity => Quantity::Humidity,
            QuantityArg::Pressure => Quantity::Pressure,
            QuantityArg::Co2 => Quantity::Co2,
            QuantityArg::Illuminance => Quantity::Illuminance,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SetTargetArgs {
    /// The zone (room), as nodes name it in their config.
    pub zone: String,
    /// The value, in the quantity's unit (°C for temperature).
    #[arg(allow_negative_numbers = true)]
    pub value: f32,
    #[arg(long, value_enum, default_value_t = QuantityArg::Temperature)]
    pub quantity: QuantityArg,
    /// Override the zone's schedule for this long ("2h", "90m", "1h 30m"),
    /// then go back to it by itself.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration, conflicts_with = "hold")]
    pub for_: Option<Duration>,
    /// Override the zone's schedule until `set resume`.
    #[arg(long)]
    pub hold: bool,
    #[arg(long, value_enum, default_value_t = WaitFor::Converged)]
    pub wait: WaitFor,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    #[command(flatten)]
    pub attach: AttachArgs,
}

#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The zone whose override ends.
    pub zone: String,
    #[arg(long, value_enum, default_value_t = WaitFor::Converged)]
    pub wait: WaitFor,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    #[command(flatten)]
    pub attach: AttachArgs,
}

/// A duration a person types: "2h", "90m", "1h 30m", "45s".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = text
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 2h, 90m, 1h 30m)"))?;
    if d.is_negative() || d.is_zero() {
        return Err(format!("{text:?}: the duration must be positive"));
    }
    Duration::try_from(d).map_err(|e| e.to_string())
}

pub fn run(what: SetWhat) -> anyhow::Result<()> {
    match what {
        SetWhat::Target(args) => runtime()?.block_on(set_target(args)),
        SetWhat::Resume(args) => runtime()?.block_on(resume(args)),
    }
}

async fn synced(observer: &mut Observer, deadline: Instant, timeout: u64) -> anyhow::Result<()> {
    if !observer.wait_until(deadline, |o| o.is_synced()).await {
        bail!("no full sync from the node within {timeout} s");
    }
    Ok(())
}

async fn set_target(args: SetTargetArgs) -> anyhow::Result<()> {
    let quantity = Quantity::from(args.quantity);
    let timeout = Duration::from_secs(args.timeout);
    let deadline = Instant::now() + timeout;
    let mut attached = attach(&args.attach).await?;
    let by = attached.set_by();
    if let Err(reason) = check_target(&attached.config.targets, quantity, args.value) {
        bail!("refusing to set {} {quantity}: {reason}", args.zone);
    }
    let overriding = args.hold || args.for_.is_some();
    if overriding && quantity != Quantity::Temperature {
        bail!("--for and --hold override the heating: temperature only");
    }
    let limits = attached.config.targets.heating_limits();
    let observer = &mut attached.observer;
    synced(observer, deadline, args.timeout).await?;
    if !overriding {
        let submitted = observer
            .write_target(&args.zone, quantity, args.value, by.clone())
            .context("writing the target")?;
        let what = format!("{} {quantity} = {}", args.zone, args.value);
        return confirm(observer, submitted, &what, args.wait, deadline, timeout).await;
    }
    let now = Observer::wall_ms();
    let value = OverrideValue {
        celsius: Some(args.value),
        expires_at_ms: args.for_.map(|d| now + d.as_millis() as u64),
        set_by: by.clone(),
    };
    value
        .check(&args.zone, now, &limits)
        .with_context(|| format!("refusing to override {}", args.zone))?;
    let submitted = observer
        .write_override(&args.zone, value)
        .context("writing the override")?;
    let what = match args.for_ {
        Some(d) => format!(
            "{} overridden to {} °C for {}",
            args.zone,
            args.value,
            jiff::SignedDuration::try_from(d)
                .map_or_else(|_| format!("{d:?}"), |d| format!("{d:#}"))
        ),
        None => format!("{} held at {} °C until resumed", args.zone, args.value),
    };
    confirm(observer, submitted, &what, args.wait, deadline, timeout).await
}

async fn resume(args: ResumeArgs) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout);
    let deadline = Instant::now() + timeout;
    let mut attached = attach(&args.attach).await?;
    let by = attached.set_by();
    let observer = &mut attached.observer;
    synced(observer, deadline, args.timeout).await?;
    let value = OverrideValue {
        celsius: None,
        expires_at_ms: None,
        set_by: by.clone(),
    };
    let submitted = observer
        .write_override(&args.zone, value)
        .context("clearing the override")?;
    let what = format!("{} override cleared", args.zone);
    confirm(observer, submitted, &what, args.wait, deadline, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_people_type() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
