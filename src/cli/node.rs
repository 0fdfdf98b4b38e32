//! `officemesh node --config PATH [--data-dir DIR]`: the headless node.

use std::path::{Path, PathBuf};

use anyhow::Context;
use officemesh::config::{Config, resolve_data_dir};
use officemesh::node::{self, DeviceClock, DevicesSetup, Settings, stats};
use officemesh::service::{self, metrics_http::MetricsServer, systemd::Notifier};

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The node's TOML configuration (see config.example.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// Where the key and the state live (overrides the config and
    /// $STATE_DIRECTORY).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Also announce loopback interfaces (for nodes on 127.0.0.0/8).
    #[arg(long, hide = true)]
    pub announce_loopback: bool,
}

pub fn settings(config_path: &Path, data_dir: Option<&Path>) -> anyhow::Result<(Config, Settings)> {
    let config = Config::load(config_path)?;
    let data_dir = resolve_data_dir(data_dir, Some(&config))?;
    let settings = Settings::from_config(&config, config_path, &data_dir)?;
    Ok((config, settings))
}

/// Runs the node and, when the config has `[[sensor]]` or `[heating]`,
/// its devices, until SIGTERM or SIGINT; then switches the heater off,
/// leaves gracefully and flushes. SIGUSR1 writes the transport counters
/// to `net-counters.json` in the data directory (for `officemesh bench`).
/// SIGHUP (`systemctl reload officemesh`) re-reads the config and applies
/// the keyring and `cluster.revoked` live ([`reload`]).
pub fn run(args: NodeArgs) -> anyhow::Result<()> {
    let (config, mut settings) = settings(&args.config, args.data_dir.as_deref())?;
    settings.include_loopback = args.announce_loopback;
    let data_dir = settings.data_dir.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut usr1 =
            signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;
        let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
        let mut running_config = config.clone();
        let handle = node::start(settings).await?;
        let metrics = match config.metrics.listen {
            Some(addr) => {
                let server =
                    MetricsServer::bind(addr, service::metrics::registry(handle.health())).await?;
                tracing::info!(addr = %server.local_addr()?, "serving metrics at /metrics");
                Some(server.spawn())
            }
            None => None,
        };
        let devices = DevicesSetup::from_config(&config, DeviceClock::real())
            .map(|setup| node::devices::spawn(setup, &handle));
        if devices.is_none() {
            tracing::info!(
                "no [[sensor]] or [heating] configured: this node only relays and stores"
            );
        }
        // Listening, devices started: ready as far as systemd is concerned.
        let notifier = Notifier::ready(handle.health());
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!("SIGTERM: leaving");
                    break;
                }
                _ = int.recv() => {
                    tracing::info!("SIGINT: leaving");
                    break;
                }
                _ = hup.recv() => {
                    if let Some(notifier) = &notifier {
                        notifier.reloading();
                    }
                    let outcome = reload(&args, &mut running_config, &handle).await;
                    let status = match &outcome {
                        Ok(line) => line.clone(),
                        Err(error) => {
                            tracing::error!("SIGHUP: the configuration was not reloaded: {error:#}");
                            format!("reload failed, running as before: {error:#}")
                        }
                    };
                    if let Some(notifier) = &notifier {
                        notifier.reloaded(&status);
                    }
                }
                _ = usr1.recv() => {
                    if let Err(error) = stats::write_stats(&data_dir, &handle.stats()) {
                        tracing::warn!(%error, "SIGUSR1: could not write the counters");
                    }
                }
            }
        }
        if let Some(notifier) = notifier {
            notifier.stopping();
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        // Heater off and published first, while the node still listens.
        if let Some(devices) = devices {
            devices.shutdown().await;
        }
        handle.shutdown().await;
        Ok(())
    })
}

/// Re-reads the config at `args.config` and applies what can change on a
/// running node: the keyring (new handshakes use it; links made with a
/// removed key are closed), `cluster.revoked` (refused from now on, open
/// links closed, their new writes refused) and `cluster.operators`. Anything else that changed is reported as waiting
/// for a restart. A config or keyring that does not load changes nothing.
async fn reload(
    args: &NodeArgs,
    running: &mut Config,
    handle: &node::NodeHandle,
) -> anyhow::Result<String> {
    let (config, settings) = settings(&args.config, args.data_dir.as_deref())?;
    let (keyring, source) = settings.keyring()?;
    let primary = keyring.primary_fingerprint();
    let keys = keyring.len();
    let revoked = settings.revoked.len();
    let reloaded = handle
        .reload(keyring, settings.trust.clone())
        .await
        .context("the node task has ended")?;
    let mut rest = config.clone();
    rest.cluster.key_file = running.cluster.key_file.clone();
    rest.cluster.keyring_dir = running.cluster.keyring_dir.clone();
    rest.cluster.revoked = running.cluster.revoked.clone();
    rest.cluster.operators = running.cluster.operators.clone();
    if rest != *running {
        tracing::warn!(
            "SIGHUP: settings other than the cluster keys, cluster.revoked and cluster.operators changed; they take effect on the next restart"
        );
    }
    *running = config;
    tracing::info!(
        %source,
        %primary,
        keys,
        revoked,
        closed_for_key = reloaded.closed_for_key,
        closed_for_revocation = reloaded.closed_for_revocation,
        "SIGHUP: configuration reloaded"
    );
    Ok(format!(
        "reloaded: {keys} cluster key(s), primary {primary}, {revoked} revoked"
    ))
}
