//! `officemesh schedule show|set|clear ZONE …`: a zone's weekly program
//! in the language people type (`mon-fri 07:00 comfort, 18:00 eco;
//! sat-sun eco`), written as replicated state like a target.

use std::time::Duration;

use anyhow::{Context, bail};
use officemesh::control::effective_target::{self, ZoneProgram};
use officemesh::control::schedule_syntax::{self, Printed};
use officemesh::crdt::{PresetName, Schedule};
use officemesh::observer::Observer;
use tokio::time::Instant;

use super::attach::{AttachArgs, attach, runtime};
use super::confirm::{WaitFor, confirm};

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Print a zone's schedule (every sibling when edited concurrently),
    /// its presets, its override and the effective target now.
    Show {
        zone: String,
        #[command(flatten)]
        attach: AttachArgs,
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Replace a zone's schedule, e.g.
    /// `schedule set kitchen "mon-fri 07:00 comfort, 18:00 eco; sat-sun eco"`.
    Set {
        zone: String,
        /// The program: groups of days and switches separated by `;`
        /// (see docs/heating.md).
        program: String,
        #[arg(long, value_enum, default_value_t = WaitFor::Converged)]
        wait: WaitFor,
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        #[command(flatten)]
        attach: AttachArgs,
    },
    /// Remove a zone's schedule (it falls back to its target).
    Clear {
        zone: String,
        #[arg(long, value_enum, default_value_t = WaitFor::Converged)]
        wait: WaitFor,
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        #[command(flatten)]
        attach: AttachArgs,
    },
}

pub fn run(command: ScheduleCommand) -> anyhow::Result<()> {
    match command {
        ScheduleCommand::Show {
            zone,
            attach,
            timeout,
        } => runtime()?.block_on(show(zone, attach, timeout)),
        ScheduleCommand::Set {
            zone,
            program,
            wait,
            timeout,
            attach,
        } => {
            // Checked before any connection: a typo needs no network.
            let schedule = schedule_syntax::parse(&program, &officemesh::config::operator_label())
                .map_err(|e| anyhow::anyhow!("{e}\n{}", e.pointer(&program)))?;
            runtime()?.block_on(write(zone, schedule, wait, timeout, attach))
        }
        ScheduleCommand::Clear {
            zone,
            wait,
            timeout,
            attach,
        } => {
            let empty = Schedule {
                set_by: officemesh::config::operator_label(),
                ..Schedule::default()
            };
            runtime()?.block_on(write(zone, empty, wait, timeout, attach))
        }
    }
}

async fn write(
    zone: String,
    mut schedule: Schedule,
    wait: WaitFor,
    timeout: u64,
    attach_args: AttachArgs,
) -> anyhow::Result<()> {
    let limit = Duration::from_secs(timeout);
    let deadline = Instant::now() + limit;
    let mut attached = attach(&attach_args).await?;
    schedule.set_by = attached.set_by();
    schedule
        .check(&zone, &attached.config.targets.heating_limits())
        .with_context(|| format!("refusing the schedule of {zone}"))?;
    let observer = &mut attached.observer;
    if !observer.wait_until(deadline, |o| o.is_synced()).await {
        bail!("no full sync from the node within {timeout} s");
    }
    let what = if schedule.is_empty() {
        format!("{zone} schedule cleared")
    } else {
        format!("{zone} schedule = {}", Printed(&schedule))
    };
    let submitted = observer
        .write_schedule(&zone, schedule)
        .context("writing the schedule")?;
    confirm(observer, submitted, &what, wait, deadline, limit).await
}

async fn show(zone: String, attach_args: AttachArgs, timeout: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut attached = attach(&attach_args).await?;
    let tz = attached.config.office.time_zone()?;
    let observer = &mut attached.observer;
    if !observer.wait_until(deadline, |o| o.is_synced()).await {
        bail!("no full sync from the node within {timeout} s");
    }
    let state = observer.state();
    match state.schedule(&zone) {
        None => println!("{zone}: no schedule"),
        Some(register) => {
            if register.is_conflicted() {
                println!(
                    "{zone}: {} concurrent schedules (the first is followed):",
                    register.len()
                );
            }
            let winner = register.winner().map(|(d, _)| d);
            let mut siblings: Vec<_> = register.siblings().collect();
            siblings.sort_by_key(|(d, _)| Some(*d) != winner);
            for (_, s) in siblings {
                if s.value.is_empty() {
                    println!("  (cleared by {})", s.value.set_by);
                } else {
                    println!("  {}   (by {})", Printed(&s.value), s.value.set_by);
                }
            }
        }
    }
    let program = ZoneProgram::from_state(state, &zone);
    let presets: Vec<String> = PresetName::ALL
        .iter()
        .map(|p| format!("{p} {:.1}", program.preset(*p)))
        .collect();
    println!("presets: {}", presets.join(", "));
    let now = Observer::wall_ms() as i64;
    let effective = effective_target::resolve(&program, &tz, now, None, None);
    match effective.celsius {
        Some(c) => println!("now: {c:.1} °C ({}: {})", effective.level, effective.reason),
        None => println!("now: off ({}: {})", effective.level, effective.reason),
    }
    if let Some(next) = effective.next_change_ms {
        println!("next change: {}", effective_target::local_hhmm(&tz, next));
    }
    Ok(())
}
