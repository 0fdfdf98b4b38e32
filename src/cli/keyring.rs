//! `officemesh keyring list|install|use|remove`: the local keyring of
//! accepted cluster keys and its primary (README, "Rotating the cluster
//! key"). Each command changes this machine's files only; `systemctl
//! reload officemesh` (SIGHUP) makes the running node apply them. A
//! rotation is three rounds over every node: install the new key, use
//! it, remove the old one, reloading each node after each round and
//! checking with `keyring list` before the next.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use officemesh::config::{Config, resolve_data_dir};
use officemesh::net::{ClusterKey, IdentityError, KeyringDir, KeyringSource, load_keys};
use officemesh::observer::key_holders::KeyHolders;
use serde_json::json;
use tokio::time::Instant;

use super::attach::{AttachArgs, DEFAULT_CONFIG, attach, runtime};

#[derive(Debug, clap::Subcommand)]
pub enum KeyringCommand {
    /// Show this machine's keys (the primary first) and, from the office
    /// state, how many nodes hold each one.
    List(ListArgs),
    /// Add a cluster key (a file written by `officemesh keygen --out`):
    /// accepted from the next reload on, not yet dialled with.
    Install {
        /// The key file to copy into the keyring.
        file: PathBuf,
        #[command(flatten)]
        local: LocalArgs,
    },
    /// Make the key with this fingerprint (or its first digits) the
    /// primary: the node dials with it from the next reload on.
    Use {
        fingerprint: String,
        #[command(flatten)]
        local: LocalArgs,
    },
    /// Remove the key with this fingerprint (or its first digits): from
    /// the next reload on, it is refused and links made with it close.
    Remove {
        fingerprint: String,
        #[command(flatten)]
        local: LocalArgs,
    },
}

/// Which keyring: the node's, as its config says.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// The node's config (default: /etc/officemesh/config.toml when it
    /// exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The node's data directory, if not from the config.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The keyring directory itself (default: the config's
    /// `cluster.keyring_dir`, else `keyring` in the data directory). A
    /// keyring named this way stands alone: `install` does not copy the
    /// config's key file into it first.
    #[arg(long)]
    pub keyring: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub local: LocalArgs,
    /// A node to ask (host:port); default: the config's seeds, then the
    /// local node.
    #[arg(long)]
    pub connect: Vec<String>,
    /// Where this observer keeps its key (default: the per-user data
    /// directory).
    #[arg(long, env = "OFFICEMESH_OBSERVER_DIR")]
    pub observer_dir: Option<PathBuf>,
    /// Only the local files: do not ask the office which nodes hold which key.
    #[arg(long)]
    pub offline: bool,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Give up asking the office after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// The keyring directory and the key file it replaces.
struct Local {
    config_path: Option<PathBuf>,
    keyring: KeyringDir,
    key_file: PathBuf,
}

fn local(args: &LocalArgs) -> anyhow::Result<Local> {
    let config_path = args.config.clone().or_else(|| {
        Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| PathBuf::from(DEFAULT_CONFIG))
    });
    let config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let data_dir = resolve_data_dir(args.data_dir.as_deref(), Some(&config))?;
    let keyring = match &args.keyring {
        Some(dir) => dir.clone(),
        None => config.keyring_dir(&data_dir),
    };
    Ok(Local {
        config_path,
        keyring: KeyringDir::new(keyring),
        key_file: config.key_file(&data_dir),
    })
}

const RELOAD_HINT: &str =
    "apply it on the running node: `systemctl reload officemesh` (or `kill -HUP` its pid)";

pub fn run(command: KeyringCommand) -> anyhow::Result<()> {
    match command {
        KeyringCommand::List(args) => list(args),
        KeyringCommand::Install { file, local: args } => {
            let local = local(&args)?;
            let key = ClusterKey::load(&file)
                .with_context(|| format!("reading the key to install, {}", file.display()))?;
            // The key the node uses today stays the primary of a new
            // keyring; only a machine without any key starts with the new one.
            let current = match ClusterKey::load(&local.key_file) {
                _ if args.keyring.is_some() => None,
                Ok(current) => Some(current),
                Err(IdentityError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    None
                }
                Err(error) => {
                    if local.keyring.entries()?.is_empty() {
                        return Err(error).context(
                            "reading the current cluster key, to keep it in the new keyring",
                        );
                    }
                    None
                }
            };
            let fp = local.keyring.install(&key, current.as_ref())?;
            println!(
                "installed {fp} in {}; {RELOAD_HINT}",
                local.keyring.path().display()
            );
            Ok(())
        }
        KeyringCommand::Use {
            fingerprint,
            local: args,
        } => {
            let local = local(&args)?;
            let fp = local.keyring.use_key(&fingerprint)?;
            println!("{fp} is the primary key; {RELOAD_HINT}");
            Ok(())
        }
        KeyringCommand::Remove {
            fingerprint,
            local: args,
        } => {
            let local = local(&args)?;
            let fp = local.keyring.remove(&fingerprint)?;
            println!(
                "removed {fp} from {}; {RELOAD_HINT}",
                local.keyring.path().display()
            );
            Ok(())
        }
    }
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let local = local(&args.local)?;
    let (keys, source) = load_keys(local.keyring.path(), &local.key_file)?;
    let files: Vec<(String, String)> = match &source {
        KeyringSource::Directory(_) => local
            .keyring
            .entries()?
            .into_iter()
            .map(|e| (e.fingerprint.to_string(), e.file.display().to_string()))
            .collect(),
        KeyringSource::KeyFile(file) => vec![(
            keys.primary_fingerprint().to_string(),
            file.display().to_string(),
        )],
    };
    let (holders, asked) = if args.offline {
        (None, "not asked (--offline)".to_string())
    } else {
        let key_path = match &source {
            KeyringSource::Directory(dir) => dir.clone(),
            KeyringSource::KeyFile(file) => file.clone(),
        };
        let attach_args = AttachArgs {
            connect: args.connect.clone(),
            config: local.config_path.clone(),
            key: Some(key_path),
            observer_dir: args.observer_dir.clone(),
        };
        match ask_office(&attach_args, args.timeout) {
            Ok(holders) => (Some(holders), "asked".to_string()),
            Err(error) => (None, format!("not reachable: {error:#}")),
        }
    };
    let total = holders.as_ref().map(|h| h.nodes.len());
    let entries: Vec<serde_json::Value> = keys
        .fingerprints()
        .iter()
        .enumerate()
        .map(|(i, fp)| {
            let file = files
                .iter()
                .find(|(f, _)| *f == fp.to_string())
                .map(|(_, path)| path.clone());
            json!({
                "fingerprint": fp.to_string(),
                "primary": i == 0,
                "file": file,
                "nodes_holding": holders.as_ref().map(|h| h.count(fp)),
                "nodes_dialling": holders.as_ref().map(|h| h.primary_count(fp)),
                "missing": holders.as_ref().map(|h| h.missing(fp)),
            })
        })
        .collect();
    // Keys the office advertises that this machine does not hold: an old
    // key some node still accepts, or a new one not installed here yet.
    let elsewhere: Vec<serde_json::Value> = holders
        .as_ref()
        .map(|h| {
            h.holders
                .keys()
                .filter(|fp| !keys.contains(fp))
                .map(|fp| {
                    json!({
                        "fingerprint": fp.to_string(),
                        "nodes_holding": h.count(fp),
                        "nodes_dialling": h.primary_count(fp),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if args.json {
        let doc = json!({
            "source": source.to_string(),
            "keys": entries,
            "elsewhere": elsewhere,
            "nodes": total,
            "office": asked,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("{source} (the primary first):");
    for entry in &entries {
        let count = match (entry["nodes_holding"].as_u64(), total) {
            (Some(k), Some(n)) => format!("[{k}/{n}]"),
            _ => "[?]".to_string(),
        };
        let missing = entry["missing"]
            .as_array()
            .filter(|m| !m.is_empty())
            .map(|m| {
                let names: Vec<&str> = m.iter().filter_map(|n| n.as_str()).collect();
                format!("  missing on: {}", names.join(", "))
            })
            .unwrap_or_default();
        println!(
            "  {}  {:<7}  {count}{missing}",
            entry["fingerprint"].as_str().unwrap_or_default(),
            if entry["primary"] == true {
                "primary"
            } else {
                ""
            },
        );
    }
    for other in &elsewhere {
        println!(
            "  {}  not here  [{}/{}]",
            other["fingerprint"].as_str().unwrap_or_default(),
            other["nodes_holding"],
            total.unwrap_or_default()
        );
    }
    if holders.is_none() {
        println!("office {asked}");
    }
    Ok(())
}

/// The keys every node advertises, from a full sync of the office state.
fn ask_office(args: &AttachArgs, timeout: u64) -> anyhow::Result<KeyHolders> {
    runtime()?.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let mut attached = tokio::time::timeout_at(deadline, attach(args))
            .await
            .context("no node answered in time")??;
        let observer = &mut attached.observer;
        observer.wait_until(deadline, |o| o.is_synced()).await;
        if !observer.is_synced() {
            bail!("no full sync from the node within {timeout} s");
        }
        Ok(KeyHolders::of(observer.state()))
    })
}
