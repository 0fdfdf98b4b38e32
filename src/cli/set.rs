//! `officemesh set target ZONE VALUE [--quantity temperature]
//! [--wait stored|converged] [--timeout SECS]`.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use officemesh::crdt::Quantity;
use officemesh::node::check_target;
use officemesh::observer::Update;
use tokio::time::Instant;

use super::attach::{AttachArgs, attach, runtime};

#[derive(Debug, clap::Subcommand)]
pub enum SetWhat {
    /// Set the target of a zone.
    Target(SetTargetArgs),
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    /// A node committed the write to its store.
    Stored,
    /// Every live node's version vector covers the write.
    Converged,
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
    #[arg(long, value_enum, default_value_t = WaitFor::Converged)]
    pub wait: WaitFor,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    #[command(flatten)]
    pub attach: AttachArgs,
}

pub fn run(what: SetWhat) -> anyhow::Result<()> {
    let SetWhat::Target(args) = what;
    runtime()?.block_on(set_target(args))
}

async fn set_target(args: SetTargetArgs) -> anyhow::Result<()> {
    let quantity = Quantity::from(args.quantity);
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut attached = attach(&args.attach).await?;
    if let Err(reason) = check_target(&attached.config.targets, quantity, args.value) {
        bail!("refusing to set {} {quantity}: {reason}", args.zone);
    }
    let observer = &mut attached.observer;
    if !observer.wait_until(deadline, |o| o.is_synced()).await {
        bail!("no full sync from the node within {} s", args.timeout);
    }
    let set_by = format!(
        "{}@{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".into()),
        officemesh::config::hostname()
    );
    let submitted = observer
        .write_target(&args.zone, quantity, args.value, set_by)
        .context("writing the target")?;
    // Stored: the attached node's answer.
    let mut stored_by = None;
    while stored_by.is_none() {
        match tokio::time::timeout_at(deadline, observer.next_update()).await {
            Err(_) => bail!("not stored within {} s", args.timeout),
            Ok(Update::Stored { request, by }) if request == submitted.request => {
                stored_by = Some(by);
            }
            Ok(Update::Rejected { request, reason }) if request == submitted.request => {
                bail!("the node rejected the write: {reason}");
            }
            Ok(Update::NotStored {
                request,
                reason,
                sent_to,
            }) if request == submitted.request => {
                bail!(
                    "not stored on the node: {reason}; it was already sent to {sent_to} \
                     neighbour(s) and may still spread"
                );
            }
            Ok(_) => {}
        }
    }
    if let Some(by) = stored_by {
        println!(
            "stored: {} {quantity} = {} (committed by node {by})",
            args.zone, args.value
        );
    }
    if args.wait == WaitFor::Stored {
        return Ok(());
    }
    let dot = submitted.dot;
    let mut last = (usize::MAX, usize::MAX);
    let done = observer
        .wait_until(deadline, |o| {
            let (k, n) = o.coverage(dot);
            if (k, n) != last {
                last = (k, n);
                eprintln!("converged {k}/{n}");
            }
            n > 0 && k == n && o.reports_settled()
        })
        .await;
    let (k, n) = observer.coverage(dot);
    if !done {
        bail!(
            "not converged within {} s: {k}/{n} live nodes have it",
            args.timeout
        );
    }
    println!("converged: {k}/{n} live nodes");
    Ok(())
}
