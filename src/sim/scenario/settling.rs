//! How the office settles after the heal, sampled as it happens: which
//! replicas still differ from the most common state and in what, how many
//! active-view links changed since the last sample, and how many failed
//! peers are still to be probed. Each sample is logged at debug level
//! (`RUST_LOG=officemesh::sim::scenario::settling=debug`); the report keeps
//! when the overlay last changed and when the last write was made, which
//! together say what held convergence: the overlay (every link change
//! rewrites a node's `Node` entry) or the spreading of a write.

use std::collections::{BTreeSet, HashMap};

use crate::crdt::OfficeState;
use crate::node_id::NodeId;
use crate::sim::mesh::Mesh;
use crate::time::Time;

/// One look at every live replica.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Live replicas whose state is not the most common one.
    pub differing: usize,
    /// Keys whose register is not the same on every live replica, by kind.
    pub unsettled_nodes: usize,
    pub unsettled_other: usize,
    /// Differing replicas whose registers are the common ones: only their
    /// causal contexts differ.
    pub context_only: usize,
    /// Failed peers the live nodes still probe.
    pub lost: usize,
}

impl Sample {
    pub fn converged(&self) -> bool {
        self.differing == 0
    }
}

/// Samples taken since the heal.
pub struct Settling {
    healed: Time,
    views: Vec<BTreeSet<NodeId>>,
    /// Since the heal: the last sample that saw a link change.
    pub last_link_change_ms: Option<u64>,
    /// Since the heal: every link change seen.
    pub link_changes: usize,
}

impl Settling {
    pub fn new(mesh: &Mesh, healed: Time) -> Self {
        let mut settling = Settling {
            healed,
            views: vec![BTreeSet::new(); mesh.len()],
            last_link_change_ms: None,
            link_changes: 0,
        };
        settling.link_changes(mesh);
        settling
    }

    /// Looks at every live replica now.
    pub fn sample(&mut self, mesh: &Mesh) -> Sample {
        let at_ms = (mesh.now() - self.healed).as_millis() as u64;
        let link_changes = self.link_changes(mesh);
        if link_changes > 0 {
            self.last_link_change_ms = Some(at_ms);
            self.link_changes += link_changes;
        }
        let live: Vec<usize> = mesh.live_nodes();
        let states: Vec<&OfficeState> = live
            .iter()
            .filter_map(|&n| mesh.replica(n))
            .map(|r| r.state())
            .collect();
        let encodings: Vec<Option<Vec<u8>>> = states.iter().map(|s| s.encode().ok()).collect();
        let mut counts: HashMap<&[u8], usize> = HashMap::new();
        for e in encodings.iter().flatten() {
            *counts.entry(e.as_slice()).or_default() += 1;
        }
        // The most common state; ties go to the first replica holding one.
        let common = encodings
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_deref().map(|e| (i, counts[e])))
            .max_by_key(|&(i, c)| (c, std::cmp::Reverse(i)))
            .map(|(i, _)| i);
        let mut sample = Sample {
            lost: live
                .iter()
                .filter_map(|&n| mesh.replica(n))
                .map(|r| r.overlay().lost_peers())
                .sum(),
            ..Sample::default()
        };
        if tracing::enabled!(tracing::Level::TRACE) {
            let mut rejected: std::collections::BTreeMap<&str, u64> = Default::default();
            for r in live.iter().filter_map(|&n| mesh.replica(n)) {
                for (k, v) in r.stats().rejected {
                    *rejected.entry(k).or_default() += v;
                }
            }
            tracing::trace!(?rejected, "refused so far");
        }
        let Some(common) = common else {
            sample.differing = states.len();
            return sample;
        };
        let reference = states[common];
        let mut unsettled_nodes = BTreeSet::new();
        let mut unsettled_other = 0;
        for (i, state) in states.iter().enumerate() {
            if encodings[i] == encodings[common] {
                continue;
            }
            sample.differing += 1;
            let (mine, theirs) = (&state.registers, &reference.registers);
            if mine == theirs {
                sample.context_only += 1;
                if tracing::enabled!(tracing::Level::TRACE) {
                    trace_context(mesh, live[i], state, reference);
                }
                continue;
            }
            for id in mine.nodes.keys().chain(theirs.nodes.keys()) {
                if mine.nodes.get(id) != theirs.nodes.get(id) {
                    unsettled_nodes.insert(*id);
                }
            }
            let other = (mine.sensors != theirs.sensors) as usize
                + (mine.actuators != theirs.actuators) as usize
                + (mine.targets != theirs.targets) as usize
                + (mine.schedules != theirs.schedules) as usize
                + (mine.presets != theirs.presets) as usize
                + (mine.overrides != theirs.overrides) as usize;
            unsettled_other += other;
            if tracing::enabled!(tracing::Level::TRACE) {
                trace_difference(live[i], state, reference, self.healed_wall_ms(mesh));
                trace_claims(mesh, live[i], state, reference);
            }
        }
        sample.unsettled_nodes = unsettled_nodes.len();
        sample.unsettled_other = unsettled_other;
        tracing::debug!(
            at_ms,
            live = states.len(),
            differing = sample.differing,
            context_only = sample.context_only,
            unsettled_nodes = sample.unsettled_nodes,
            replicas_with_other_keys_unsettled = sample.unsettled_other,
            link_changes,
            lost = sample.lost,
            "settling after the heal"
        );
        sample
    }

    fn healed_wall_ms(&self, mesh: &Mesh) -> i64 {
        mesh.wall_ms() as i64 - (mesh.now() - self.healed).as_millis() as i64
    }

    /// Links that appeared or went in any live node's active view since the
    /// last call (a crashed node's view counts as empty).
    fn link_changes(&mut self, mesh: &Mesh) -> usize {
        let mut changes = 0;
        for (n, before) in self.views.iter_mut().enumerate() {
            let now: BTreeSet<NodeId> = mesh
                .replica(n)
                .map(|r| r.overlay().active_view().iter().map(|p| p.id).collect())
                .unwrap_or_default();
            changes += before.symmetric_difference(&now).count();
            *before = now;
        }
        changes
    }
}

/// What the common state has seen that `node` has not, where only the
/// contexts differ, and what is proven there of the replicas concerned
/// (anti-entropy takes a peer's word for dots only up to a proof).
fn trace_context(mesh: &Mesh, node: usize, mine: &OfficeState, theirs: &OfficeState) {
    let lacks = theirs.context().difference(mine.context());
    let extra = mine.context().difference(theirs.context());
    let proven: Vec<String> = mesh
        .replica(node)
        .map(|r| {
            let a = r.admission().authorship();
            lacks
                .version_vector()
                .iter()
                .map(|(id, _)| {
                    format!("{id:?} proven {} key {}", a.proven(id), a.key(id).is_some())
                })
                .collect()
        })
        .unwrap_or_default();
    tracing::trace!(node, ?lacks, ?extra, ?proven, "context differs");
}

/// For each target write of the common state that `node` has not seen:
/// what it claims to replace, against what `node` holds proven of each
/// replica named (a claim beyond that is refused as unproven).
fn trace_claims(mesh: &Mesh, node: usize, mine: &OfficeState, theirs: &OfficeState) {
    let Some(r) = mesh.replica(node) else {
        return;
    };
    let a = r.admission().authorship();
    for (k, reg) in &theirs.registers.targets {
        if mine.registers.targets.get(k) == Some(reg) {
            continue;
        }
        for (d, s) in reg.siblings().filter(|(d, _)| !mine.covers(*d)) {
            let claims: Vec<String> = s
                .seen
                .iter()
                .map(|(id, c)| {
                    format!(
                        "{id:?}:{c} proven {} seen here {} key {}",
                        a.proven(id),
                        mine.context().max_counter(id),
                        a.key(id).is_some()
                    )
                })
                .collect();
            let key_known = a.key(d.replica).is_some();
            tracing::trace!(node, dot = ?d, key_known, ?claims, "missing write's claims");
        }
    }
}

/// Which registers of `node` differ from the common state's, and how old
/// the common state's write is (from the heal).
fn trace_difference(node: usize, mine: &OfficeState, theirs: &OfficeState, healed_wall_ms: i64) {
    let context = mine.context();
    let (mine, theirs) = (&mine.registers, &theirs.registers);
    fn diff<K: Ord + std::fmt::Debug, V: PartialEq + Clone>(
        kind: &str,
        node: usize,
        context: &crate::crdt::CausalContext,
        mine: &std::collections::BTreeMap<K, crate::crdt::MvRegister<V>>,
        theirs: &std::collections::BTreeMap<K, crate::crdt::MvRegister<V>>,
        healed_wall_ms: i64,
    ) {
        for (k, r) in theirs {
            let m = mine.get(k);
            if m != Some(r) {
                let age = r
                    .newest_timestamp()
                    .map(|t| t.wall_ms as i64 - healed_wall_ms);
                let mine_age = m
                    .and_then(|m| m.newest_timestamp())
                    .map(|t| t.wall_ms as i64 - healed_wall_ms);
                let writes = |r: &crate::crdt::MvRegister<V>| -> Vec<String> {
                    r.siblings()
                        .map(|(d, s)| format!("{d:?}@{:?} seen {:?}", s.at, s.seen))
                        .chain(
                            r.removals()
                                .map(|(d, s)| format!("removed {d:?}@{:?}", s.at)),
                        )
                        .collect()
                };
                // Writes of the common state missing here although this
                // replica's context says it has seen them: anti-entropy
                // will never bring them.
                let seen_not_held: Vec<crate::crdt::Dot> = r
                    .siblings()
                    .map(|(d, _)| d)
                    .filter(|d| m.is_none_or(|m| !m.siblings().any(|(e, _)| e == *d)))
                    .filter(|d| context.contains(*d))
                    .collect();
                tracing::trace!(
                    node,
                    kind,
                    ?seen_not_held,
                    key = ?k,
                    common_written_ms = ?age,
                    mine_written_ms = ?mine_age,
                    common = ?writes(r),
                    mine = ?m.map(writes),
                    "register differs"
                );
            }
        }
        for k in mine.keys().filter(|k| !theirs.contains_key(k)) {
            tracing::trace!(node, kind, key = ?k, "register only here");
        }
    }
    diff(
        "sensor",
        node,
        context,
        &mine.sensors,
        &theirs.sensors,
        healed_wall_ms,
    );
    diff(
        "actuator",
        node,
        context,
        &mine.actuators,
        &theirs.actuators,
        healed_wall_ms,
    );
    diff(
        "node",
        node,
        context,
        &mine.nodes,
        &theirs.nodes,
        healed_wall_ms,
    );
    diff(
        "target",
        node,
        context,
        &mine.targets,
        &theirs.targets,
        healed_wall_ms,
    );
}
