//! What `status` and `set` share: which node to attach to, with which
//! cluster key and which observer identity.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use officemesh::config::{Config, resolve_data_dir};
use officemesh::net::{ClusterKey, Keyring, KeyringDir, load_keys};
use officemesh::node::resolve_seeds;
use officemesh::observer::{Observer, ObserverIdentity, identity};

/// The config a local node uses when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/officemesh/config.toml";

#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// A node to attach to (host:port); repeat for fall-backs. Default: the
    /// config's seeds, then the local node.
    #[arg(long)]
    pub connect: Vec<String>,
    /// The config naming the cluster key and seeds.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The cluster key file, or a keyring directory (default: the
    /// config's keyring when it holds keys, else its key file, else
    /// cluster.key in the node's data directory).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Where this observer keeps its key and dot counter (default: the
    /// per-user data directory).
    #[arg(long, env = "OFFICEMESH_OBSERVER_DIR")]
    pub observer_dir: Option<PathBuf>,
}

pub struct Attached {
    pub observer: Observer,
    pub config: Config,
}

/// Where to attach and as whom, before any connection is made.
pub struct Resolved {
    pub config: Config,
    /// The keys to dial with, the primary first.
    pub cluster_key: Keyring,
    /// Addresses to try, in preference order.
    pub addrs: Vec<SocketAddr>,
    pub observer_dir: PathBuf,
}

pub fn resolve(args: &AttachArgs) -> anyhow::Result<Resolved> {
    let config_path = args.config.clone().or_else(|| {
        Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| PathBuf::from(DEFAULT_CONFIG))
    });
    let config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let cluster_key = keys(args.key.as_deref(), &config)?;
    let mut addrs = resolve_seeds(&args.connect).map_err(anyhow::Error::msg)?;
    if args.connect.is_empty() {
        addrs.extend(resolve_seeds(&config.cluster.seeds).map_err(anyhow::Error::msg)?);
        let listen = config.node.listen;
        let local = if listen.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        } else {
            listen
        };
        addrs.insert(0, local);
    }
    let observer_dir = match &args.observer_dir {
        Some(dir) => dir.clone(),
        None => {
            identity::default_dir().context("no per-user data directory; pass --observer-dir")?
        }
    };
    Ok(Resolved {
        config,
        cluster_key,
        addrs,
        observer_dir,
    })
}

/// The keys an observer dials with: `--key` (a key file or a keyring
/// directory), else the config's keyring or key file.
pub fn keys(key: Option<&Path>, config: &Config) -> anyhow::Result<Keyring> {
    let hint = "loading the cluster key (pass --key or --config)";
    match key {
        Some(dir) if dir.is_dir() => KeyringDir::new(dir)
            .load()
            .context(hint)?
            .with_context(|| format!("the keyring {} holds no key", dir.display())),
        Some(file) => Ok(Keyring::from(ClusterKey::load(file).context(hint)?)),
        None => {
            let data_dir = resolve_data_dir(None, Some(config))?;
            let (keys, _) = load_keys(&config.keyring_dir(&data_dir), &config.key_file(&data_dir))
                .context(hint)?;
            Ok(keys)
        }
    }
}

pub async fn attach(args: &AttachArgs) -> anyhow::Result<Attached> {
    let resolved = resolve(args)?;
    let identity = ObserverIdentity::load_or_generate(&resolved.observer_dir)?;
    let mut observer = Observer::connect(identity, resolved.cluster_key, resolved.addrs).await?;
    let trust = resolved
        .config
        .cluster
        .trust()
        .map_err(anyhow::Error::msg)?;
    observer.set_listed(&trust);
    Ok(Attached {
        observer,
        config: resolved.config,
    })
}

impl Attached {
    /// The label on this operator's writes: its name in the operators
    /// list (which every node checks), else `user@host`.
    pub fn set_by(&self) -> String {
        let trust = self.config.cluster.trust().unwrap_or_default();
        match trust.operator_name(self.observer.id()) {
            Some(name) => name.to_string(),
            None => officemesh::config::operator_label(),
        }
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
