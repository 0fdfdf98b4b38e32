//! `officemesh preset set ZONE NAME VALUE`: what comfort, eco or away
//! (frost) means in a zone, as replicated state.

use std::time::Duration;

use anyhow::{Context, bail};
use officemesh::crdt::{PresetKey, PresetName, PresetValue};
use tokio::time::Instant;

use super::attach::{AttachArgs, attach, runtime};
use super::confirm::{WaitFor, confirm};

#[derive(Debug, clap::Subcommand)]
pub enum PresetCommand {
    /// Set a preset of a zone, in °C.
    Set {
        zone: String,
        /// comfort, eco, away (or frost).
        name: PresetName,
        value: f32,
        #[arg(long, value_enum, default_value_t = WaitFor::Converged)]
        wait: WaitFor,
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        #[command(flatten)]
        attach: AttachArgs,
    },
}

pub fn run(command: PresetCommand) -> anyhow::Result<()> {
    let PresetCommand::Set {
        zone,
        name,
        value,
        wait,
        timeout,
        attach: attach_args,
    } = command;
    runtime()?.block_on(async move {
        let limit = Duration::from_secs(timeout);
        let deadline = Instant::now() + limit;
        let mut attached = attach(&attach_args).await?;
        let key = PresetKey::new(zone.clone(), name);
        let preset = PresetValue {
            celsius: value,
            set_by: attached.set_by(),
        };
        preset
            .check(&key, &attached.config.targets.heating_limits())
            .with_context(|| format!("refusing the preset {name} of {zone}"))?;
        let observer = &mut attached.observer;
        if !observer.wait_until(deadline, |o| o.is_synced()).await {
            bail!("no full sync from the node within {timeout} s");
        }
        let submitted = observer
            .write_preset(key, preset)
            .context("writing the preset")?;
        let what = format!("{zone} {name} = {value} °C");
        confirm(observer, submitted, &what, wait, deadline, limit).await
    })
}
