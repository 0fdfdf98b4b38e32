//! `officemesh bridge mqtt [--config FILE]`: the office in Home Assistant
//! through an MQTT broker, until SIGTERM or SIGINT.

use std::path::PathBuf;

use anyhow::Context;
use officemesh::bridge::{self, BridgeError, BridgeOptions, Topics};
use officemesh::config::resolve_data_dir;

use super::attach::{AttachArgs, resolve, runtime};

/// The bridge's observer directory inside the data directory when
/// `--observer-dir` is not given: its own, so its dot counter is never
/// shared with an operator's TUI on the same machine.
pub const OBSERVER_SUBDIR: &str = "bridge-mqtt";

#[derive(Debug, clap::Subcommand)]
pub enum BridgeKind {
    /// Publish zones and sensors to an MQTT broker with Home Assistant
    /// discovery, and take target commands from it (`[mqtt]` in the config).
    Mqtt(MqttArgs),
}

#[derive(Debug, clap::Args)]
pub struct MqttArgs {
    #[command(flatten)]
    pub attach: AttachArgs,
}

pub fn run(kind: BridgeKind) -> anyhow::Result<()> {
    let BridgeKind::Mqtt(mut args) = kind;
    // Without `--observer-dir`, `resolve` would pick the operator's
    // directory; the bridge keeps its own, chosen below.
    let own_dir = args.attach.observer_dir.is_none();
    args.attach.observer_dir.get_or_insert_with(PathBuf::new);
    let resolved = resolve(&args.attach)?;
    let identity_dir = if own_dir {
        resolve_data_dir(None, Some(&resolved.config))?.join(OBSERVER_SUBDIR)
    } else {
        resolved.observer_dir.clone()
    };
    let section = resolved
        .config
        .mqtt
        .clone()
        .ok_or(BridgeError::NoMqttTable)?;
    let topics = Topics::new(&section.base_topic, &section.discovery_prefix);
    let mqtt = bridge::broker::options(&section, &resolved.config.base_dir, &topics)?;
    tracing::info!(
        broker = %format!("{}:{}", section.host, section.port()),
        base_topic = %section.base_topic,
        identity = %identity_dir.display(),
        "starting the MQTT bridge"
    );
    let options = BridgeOptions {
        mqtt,
        client_id: section.client_id(),
        topics,
        targets: resolved.config.targets.clone(),
        connect: resolved.addrs,
        cluster_key: resolved.cluster_key,
        identity_dir,
        trust: resolved
            .config
            .cluster
            .trust()
            .map_err(anyhow::Error::msg)?,
    };
    runtime()?.block_on(async move {
        let shutdown = shutdown_signal()?;
        bridge::run(options, shutdown)
            .await
            .context("running the MQTT bridge")
    })
}

/// Completes on SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: leaving"),
            _ = int.recv() => tracing::info!("SIGINT: leaving"),
        }
    })
}
