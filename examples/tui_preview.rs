//! A preview of the TUI on a fixed, made-up office (seven Pis in four
//! rooms; `officemesh::tui::preview`), with no network behind it.
//!
//! Every key works; writes are acknowledged by this example itself, walking
//! through pending → stored → converged so the progress display can be seen.
//! The readings do not change after the start (their ages grow): this is a
//! still picture of an office, not a simulation. `cargo run --example tui_preview`
//!
//! The real entry point is `officemesh tui`, once the observer client exists.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use officemesh::tui::snapshot::OfficeSnapshot;
use officemesh::tui::{self, Command, NetworkUpdate, TuiConfig, WriteProgress, preview};
use tokio::sync::mpsc;

/// Moves the preview's fixed clock to now, so ages read as they would live.
fn as_of_now(mut snapshot: OfficeSnapshot, now_ms: u64) -> OfficeSnapshot {
    let shift = |t: &mut u64| *t = (*t + now_ms).saturating_sub(preview::NOW_MS);
    for node in &mut snapshot.nodes {
        if let Some(t) = &mut node.last_seen_ms {
            shift(t);
        }
    }
    snapshot
        .readings
        .iter_mut()
        .for_each(|r| shift(&mut r.measured_at_ms));
    snapshot
        .actuators
        .iter_mut()
        .for_each(|a| shift(&mut a.since_ms));
    for target in &mut snapshot.targets {
        target
            .siblings
            .iter_mut()
            .for_each(|s| shift(&mut s.set_at_ms));
    }
    snapshot
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let (updates_tx, updates_rx) = mpsc::channel(16);
    let (commands_tx, mut commands_rx) = mpsc::channel(16);
    let config = TuiConfig {
        theme: tui::Theme::from_env(),
        ..TuiConfig::default()
    };

    // Feed the preview's state, then answer writes as a node would.
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let feeder = tokio::spawn(async move {
        for t in 0..40 {
            let snapshot = as_of_now(preview::office_at(t), now_ms);
            if updates_tx
                .send(NetworkUpdate::Snapshot(snapshot))
                .await
                .is_err()
            {
                return;
            }
        }
        while let Some(Command::SetTarget { write, .. }) = commands_rx.recv().await {
            let steps = [
                WriteProgress::Stored,
                WriteProgress::Converged { k: 3, n: 6 },
                WriteProgress::Converged { k: 6, n: 6 },
            ];
            for progress in steps {
                tokio::time::sleep(Duration::from_millis(700)).await;
                if updates_tx
                    .send(NetworkUpdate::WriteProgress { write, progress })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    tui::run(config, updates_rx, commands_tx).await?;
    feeder.abort();
    Ok(())
}
