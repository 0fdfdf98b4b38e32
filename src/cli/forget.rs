//! `officemesh forget NODE [--yes] [--wait stored|converged] [--timeout SECS]`:
//! removes a decommissioned node from the office for good.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use officemesh::crdt::OfficeState;
use officemesh::node_id::NodeId;
use tokio::time::Instant;

use super::attach::{AttachArgs, attach, runtime};
use super::set::WaitFor;

#[derive(Debug, clap::Args)]
pub struct ForgetArgs {
    /// The node: its name, or its id (or a unique start of it) as `status`
    /// shows them.
    pub node: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    #[arg(long, value_enum, default_value_t = WaitFor::Converged)]
    pub wait: WaitFor,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    #[command(flatten)]
    pub attach: AttachArgs,
}

pub fn run(args: ForgetArgs) -> anyhow::Result<()> {
    runtime()?.block_on(forget(args))
}

async fn forget(args: ForgetArgs) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut attached = attach(&args.attach).await?;
    let observer = &mut attached.observer;
    if !observer.wait_until(deadline, |o| o.is_synced()).await {
        bail!("no full sync from the node within {} s", args.timeout);
    }
    let (id, name) = resolve(observer.state(), &args.node)?;
    if observer.attached().is_some_and(|p| p.id == id) {
        // The node stops as soon as it learns it was forgotten, before it
        // could answer: the write would look lost.
        bail!(
            "attached to {name} ({id}) itself; attach to another node with --connect to forget it"
        );
    }
    if !args.yes && !confirm(&name, id)? {
        bail!("not forgotten");
    }
    let submitted = observer.forget_node(id).context("writing the tombstone")?;
    let what = format!("{name} ({id}) forgotten");
    let timeout = Duration::from_secs(args.timeout);
    super::confirm::confirm(observer, submitted, &what, args.wait, deadline, timeout).await
}

/// Finds the node `which` names: an exact id, a node's name, or the start
/// of exactly one id. Returns its id and name.
fn resolve(state: &OfficeState, which: &str) -> anyhow::Result<(NodeId, String)> {
    let nodes: Vec<(NodeId, String)> = state
        .nodes()
        .map(|(id, r)| {
            let name = r
                .winner()
                .map_or_else(String::new, |(_, s)| s.value.name.clone());
            (id, name)
        })
        .collect();
    if let Ok(id) = which.parse::<NodeId>()
        && let Some(found) = nodes.iter().find(|(n, _)| *n == id)
    {
        return Ok(found.clone());
    }
    let by_name: Vec<&(NodeId, String)> = nodes.iter().filter(|(_, n)| n == which).collect();
    let candidates = if by_name.is_empty() {
        let prefix = which.to_ascii_lowercase();
        nodes
            .iter()
            .filter(|(id, _)| !prefix.is_empty() && id.to_string().starts_with(&prefix))
            .collect()
    } else {
        by_name
    };
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("no node named {which:?} or with an id starting so (see `officemesh status`)"),
        many => {
            let list: Vec<String> = many.iter().map(|(id, n)| format!("{n} ({id})")).collect();
            bail!(
                "{which:?} names {} nodes: {}; give the id",
                many.len(),
                list.join(", ")
            )
        }
    }
}

/// Asks on the terminal; anything but "yes" (or "y") declines.
fn confirm(name: &str, id: NodeId) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("not a terminal to confirm on; pass --yes to forget {name} ({id})");
    }
    eprint!(
        "Forget {name} ({id})? It disappears from every replica, and if it still runs it \
         stops until re-imaged. Type yes to confirm: "
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "yes" | "y"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use officemesh::crdt::{NodeInfo, Writer};
    use officemesh::wire::Role;

    fn office(nodes: &[(u64, &str)]) -> OfficeState {
        let mut state = OfficeState::new();
        for (id, name) in nodes {
            let id = NodeId(*id);
            let mut writer = Writer::new(id);
            let info = NodeInfo {
                name: (*name).to_string(),
                zone: "lab".into(),
                interfaces: Vec::new(),
                version: "0".into(),
                role: Role::Node,
                failed_sensors: Vec::new(),
                neighbours: Vec::new(),
                cluster_keys: Vec::new(),
            };
            state.announce_node(&mut writer, 1, info);
        }
        state
    }

    #[test]
    fn a_node_is_found_by_name_id_or_a_unique_start_of_its_id() {
        let state = office(&[(0xab00, "pi-1"), (0xcd00, "pi-2"), (0xcd11, "pi-2")]);
        assert_eq!(resolve(&state, "pi-1").unwrap().0, NodeId(0xab00));
        assert_eq!(
            resolve(&state, "000000000000cd11").unwrap(),
            (NodeId(0xcd11), "pi-2".to_string())
        );
        assert_eq!(resolve(&state, "000000000000AB").unwrap().0, NodeId(0xab00));
        let two = resolve(&state, "pi-2").unwrap_err().to_string();
        assert!(two.contains("names 2 nodes"), "{two}");
        assert!(resolve(&state, "000000000000cd").is_err());
        assert!(resolve(&state, "pi-9").is_err());
        assert!(resolve(&state, "").is_err());
    }
}
