//! The routes a change can enter a replica by: admission checks each the
//! same way, and counts and logs refusals by route.

/// The route a change arrived by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A Plumtree delivery (any node may have relayed it).
    Broadcast,
    /// A register in an anti-entropy answer.
    AntiEntropy,
    /// An observer's write request to the node it is attached to.
    ObserverWrite,
    /// A node's clock report on its way to the observers watching here.
    ClockReport,
}
