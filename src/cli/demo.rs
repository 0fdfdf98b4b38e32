//! `officemesh demo [--nodes N] [--headless] [--duration SECS] [--json]
//! [--speed X]`: a simulated office on loopback, with the TUI attached or
//! headless with a summary at the end.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use officemesh::control::schedule_syntax;
use officemesh::demo::heating_day::DEMO_SCHEDULE;
use officemesh::demo::{DemoOffice, DemoOptions, MAX_NODES, Summary};
use officemesh::tui::live::{self, LiveOptions};
use tokio::time::Instant;

use super::tui::target_limits;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many nodes (one room each) to run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=MAX_NODES as i64))]
    pub nodes: u16,
    /// Run without the TUI for --duration seconds, then print a summary.
    #[arg(long)]
    pub headless: bool,
    /// Seconds a headless demo runs (wall time).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Print the headless summary as JSON.
    #[arg(long, requires = "headless")]
    pub json: bool,
    /// With the TUI: write diagnostics to this file (the terminal belongs
    /// to the display).
    #[arg(long, conflicts_with = "headless")]
    pub log: Option<PathBuf>,
    /// How much faster than real time the rooms, thermometers and
    /// thermostats run (60: a minute of demo is an hour of office).
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Open a window in ZONE at SECS of simulated time (e.g.
    /// `kitchen@1800`); it closes ten simulated minutes later. Repeatable.
    #[arg(long = "open-window", value_name = "ZONE@SECS", value_parser = parse_open_window)]
    pub open_window: Vec<(String, u64)>,
    /// Give every zone a heating schedule (default: the office day in
    /// docs/heating.md) and start the day at 06:50 of the next weekday;
    /// schedules outrank targets, so set targets with `--for` meanwhile.
    #[arg(long, value_name = "PROGRAM", num_args = 0..=1, default_missing_value = DEMO_SCHEDULE)]
    pub schedule: Option<String>,
    /// The office's time zone (IANA name); default: this machine's.
    #[arg(long, value_name = "NAME")]
    pub timezone: Option<String>,
}

fn parse_open_window(text: &str) -> Result<(String, u64), String> {
    let (zone, secs) = text
        .rsplit_once('@')
        .ok_or_else(|| format!("{text:?}: expected ZONE@SECS, e.g. kitchen@1800"))?;
    let secs = secs
        .parse()
        .map_err(|_| format!("{secs:?} is not a number of seconds"))?;
    if zone.is_empty() {
        return Err("the zone is empty".into());
    }
    Ok((zone.to_string(), secs))
}

impl DemoArgs {
    /// What the demo logs by default: warnings beside a headless run
    /// (five nodes' info lines would bury the summary), everything to
    /// `--log` under the TUI.
    pub fn default_log_filter(&self) -> &'static str {
        if self.headless { "warn" } else { "info" }
    }

    fn options(&self) -> anyhow::Result<DemoOptions> {
        if !(self.speed.is_finite() && self.speed >= 1.0 && self.speed <= 10_000.0) {
            anyhow::bail!("--speed must be between 1 and 10000, not {}", self.speed);
        }
        let office = officemesh::config::OfficeSection {
            timezone: self.timezone.clone(),
        };
        let schedule = match &self.schedule {
            Some(text) => Some(
                schedule_syntax::parse(text, "demo")
                    .map_err(|e| anyhow::anyhow!("--schedule: {e}\n{}", e.pointer(text)))?,
            ),
            None => None,
        };
        Ok(DemoOptions {
            schedule,
            nodes: usize::from(self.nodes),
            speed: self.speed,
            time_zone: office.time_zone()?,
            open_windows: self.open_window.clone(),
            ..DemoOptions::default()
        })
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let office = DemoOffice::start(&options)
            .await
            .context("starting the demo office")?;
        let started = Instant::now();
        let outcome = if args.headless {
            headless(&office, &args).await
        } else {
            attached(&office).await
        };
        let summary = office.summary(started.elapsed());
        office.shutdown().await;
        outcome?;
        if args.headless {
            print(&summary, args.json)?;
        }
        Ok(())
    })
}

/// Runs for `--duration` or until Ctrl-C / SIGTERM.
async fn headless(office: &DemoOffice, args: &DemoArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    eprintln!(
        "officemesh demo: {} nodes on {}, rooms at {}× real time, for {} s (Ctrl-C ends it)",
        office.nodes().len(),
        match office.addrs().as_slice() {
            [only] => only.to_string(),
            [first, .., last] => format!("{first} … {last}"),
            [] => String::new(),
        },
        office.clock().speed(),
        args.duration
    );
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(args.duration)) => {}
        _ = tokio::signal::ctrl_c() => eprintln!("interrupted; stopping the office"),
        _ = term.recv() => eprintln!("terminated; stopping the office"),
    }
    Ok(())
}

/// Runs the live TUI on the office until the operator quits it: attached
/// to the first node, the others as fall-backs, with a fresh observer
/// identity in the office's temporary directory.
async fn attached(office: &DemoOffice) -> anyhow::Result<()> {
    let options = LiveOptions {
        connect: office.addrs(),
        cluster_key: office.cluster_key().clone().into(),
        identity_dir: office.observer_dir(),
        limits: target_limits(office.targets()),
        time_zone: office.time_zone().clone(),
        trust: Default::default(),
    };
    live::run(options).await.context("running the TUI")
}

fn print(summary: &Summary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(summary)?);
    } else {
        println!("{summary}");
    }
    Ok(())
}
