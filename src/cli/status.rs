//! `officemesh status [--connect ADDR] [--config PATH] [--json]`.

use std::time::Duration;

use anyhow::bail;
use officemesh::observer::report;
use tokio::time::Instant;

use super::attach::{AttachArgs, attach, runtime};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub attach: AttachArgs,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        let mut attached = attach(&args.attach).await?;
        let tz = attached.config.office.time_zone()?;
        let observer = &mut attached.observer;
        let ready = observer
            .wait_until(deadline, |o| o.is_synced() && o.reports_settled())
            .await;
        if !observer.is_synced() {
            bail!("no full sync from the node within {} s", args.timeout);
        }
        if !ready {
            tracing::warn!("not every node reported its clock in time");
        }
        let doc = report::document(observer, &tz);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            print!("{}", report::text(&doc));
        }
        Ok(())
    })
}
