//! Following an operator's write to *stored* (a node committed it) and
//! *converged* (every live node's version vector covers it), for every
//! command that writes: `set`, `schedule`, `preset`.

use std::time::Duration;

use anyhow::bail;
use clap::ValueEnum;
use officemesh::observer::{Observer, Submitted, Update};
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    /// A node committed the write to its store.
    Stored,
    /// Every live node's version vector covers the write.
    Converged,
}

/// Waits for the write's fate and prints it; `what` names the write
/// ("kitchen temperature = 23").
pub async fn confirm(
    observer: &mut Observer,
    submitted: Submitted,
    what: &str,
    wait: WaitFor,
    deadline: Instant,
    timeout: Duration,
) -> anyhow::Result<()> {
    let secs = timeout.as_secs();
    let mut stored_by = None;
    while stored_by.is_none() {
        match tokio::time::timeout_at(deadline, observer.next_update()).await {
            Err(_) => bail!("not stored within {secs} s"),
            Ok(Update::Stored { request, by }) if request == submitted.request => {
                stored_by = Some(by);
            }
            Ok(Update::Rejected { request, reason }) if request == submitted.request => {
                bail!("the node rejected the write: {reason}");
            }
            Ok(Update::NotStored {
                request,
                reason,
                sent_to,
            }) if request == submitted.request => {
                bail!(
                    "not stored on the node: {reason}; it was already sent to {sent_to} \
                     neighbour(s) and may still spread"
                );
            }
            Ok(_) => {}
        }
    }
    if let Some(by) = stored_by {
        println!("stored: {what} (committed by node {by})");
    }
    if wait == WaitFor::Stored {
        return Ok(());
    }
    let dot = submitted.dot;
    let mut last = (usize::MAX, usize::MAX);
    let done = observer
        .wait_until(deadline, |o| {
            let (k, n) = o.coverage(dot);
            if (k, n) != last {
                last = (k, n);
                eprintln!("converged {k}/{n}");
            }
            n > 0 && k == n && o.reports_settled()
        })
        .await;
    let (k, n) = observer.coverage(dot);
    if !done {
        bail!("not converged within {secs} s: {k}/{n} live nodes have it");
    }
    println!("converged: {k}/{n} live nodes");
    Ok(())
}
