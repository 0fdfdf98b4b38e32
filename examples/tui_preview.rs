//! A preview of the TUI on a fixed, made-up office (seven Pis in four
//! rooms; `officemesh::tui::preview`), with no network behind it.
//!
//! Every key works; writes are acknowledged by this example itself, walking
//! through pending → stored → converged so the progress display can be seen.
//! The readings do not change: this is a still picture of an office, not a
//! simulation. `cargo run --example tui_preview`
//!
//! The real entry point is `officemesh tui`, once the observer client exists.

use std::time::Duration;

use officemesh::tui::{self, Command, NetworkUpdate, TuiConfig, WriteProgress, preview};
use tokio::sync::mpsc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let (updates_tx, updates_rx) = mpsc::channel(16);
    let (commands_tx, mut commands_rx) = mpsc::channel(16);
    let config = TuiConfig {
        theme: tui::Theme::from_env(),
        ..TuiConfig::default()
    };

    // Feed the preview's state, then answer writes as a node would.
    let feeder = tokio::spawn(async move {
        for t in 0..40 {
            if updates_tx
                .send(NetworkUpdate::Snapshot(preview::office_at(t)))
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
