//! The coordinator's side of the watchers' channel: waits until every watcher is live, then,
//! for each pointer move, until every watcher has received it, and fails loudly otherwise.
//!
//! A frame can arrive before the HTTP answer of the move that caused it (the server commits,
//! notifies the watchers, then writes the answer), so receipts are kept per deployment record
//! until the coordinator asks for that record.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::sync::mpsc;

use super::watcher::{Receipt, Report};

/// The move the coordinator made and now waits for: from its HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The prompt.
    pub name: String,
    /// The deployment record's `seq`.
    pub record_seq: i64,
    /// The version it made live.
    pub to_version: i64,
    /// `deploy` or `rollback`.
    pub kind: String,
}

/// Receipts of the watchers, by deployment record.
#[derive(Debug)]
pub struct Collector {
    /// How many watchers there are (clients `0..watchers`).
    watchers: usize,
    /// The server each watcher is connected to, for error messages.
    server_of: Vec<usize>,
    rx: mpsc::UnboundedReceiver<Report>,
    /// Receipts of records not yet asked for (or being waited for), one slot per watcher.
    pending: HashMap<i64, Vec<Option<Receipt>>>,
    /// Records already complete: a receipt for one of them again is a duplicate.
    done: std::collections::HashSet<i64>,
}

impl Collector {
    /// A collector for `server_of.len()` watchers reporting on `rx`.
    pub fn new(server_of: Vec<usize>, rx: mpsc::UnboundedReceiver<Report>) -> Self {
        Self {
            watchers: server_of.len(),
            server_of,
            rx,
            pending: HashMap::new(),
            done: std::collections::HashSet::new(),
        }
    }

    /// Waits until every watcher has received its `ready` frame.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut ready = vec![false; self.watchers];
        let mut count = 0;
        while count < self.watchers {
            match self.next(deadline).await? {
                Some(Report::Ready { client }) => {
                    if !std::mem::replace(&mut ready[client], true) {
                        count += 1;
                    }
                }
                Some(Report::Moved(r)) => {
                    bail!(
                        "watcher {} received a pointer move (record {} of {}) before the benchmark made one",
                        r.client,
                        r.record_seq,
                        r.name
                    )
                }
                Some(Report::Failed { client, reason }) => self.fail(client, &reason)?,
                None => {
                    let missing: Vec<usize> = (0..self.watchers).filter(|&c| !ready[c]).collect();
                    bail!(
                        "{} of {} watchers not live after {timeout:?} (no ready frame): {}",
                        missing.len(),
                        self.watchers,
                        self.describe(&missing)
                    );
                }
            }
        }
        Ok(())
    }

    /// Waits until every watcher has received the frame of `expected`, or `timeout` passes
    /// (an error naming the watchers that missed it). Returns the receipts in client order.
    pub async fn wait_move(
        &mut self,
        expected: &Expected,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Receipt>> {
        let deadline = Instant::now() + timeout;
        loop {
            let slots = self.pending.get(&expected.record_seq);
            if slots.is_some_and(|s| s.iter().all(Option::is_some)) {
                break;
            }
            match self.next(deadline).await? {
                Some(Report::Moved(r)) => self.receive(r)?,
                Some(Report::Failed { client, reason }) => self.fail(client, &reason)?,
                Some(Report::Ready { client }) => bail!("watcher {client} sent a second ready"),
                None => {
                    let missing: Vec<usize> = match self.pending.get(&expected.record_seq) {
                        Some(slots) => (0..self.watchers).filter(|&c| slots[c].is_none()).collect(),
                        None => (0..self.watchers).collect(),
                    };
                    bail!(
                        "MISSED EVENT: {} of {} watchers did not receive the {} of {} to v{} (record {}) within {timeout:?}: {}",
                        missing.len(),
                        self.watchers,
                        expected.kind,
                        expected.name,
                        expected.to_version,
                        expected.record_seq,
                        self.describe(&missing)
                    );
                }
            }
        }
        let slots = self
            .pending
            .remove(&expected.record_seq)
            .context("record vanished")?;
        self.done.insert(expected.record_seq);
        let receipts: Vec<Receipt> = slots.into_iter().flatten().collect();
        for r in &receipts {
            if r.name != expected.name
                || r.to_version != expected.to_version
                || r.kind != expected.kind
            {
                bail!(
                    "watcher {} received record {} as {} of {} to v{}, the answer said {} of {} to v{}",
                    r.client,
                    r.record_seq,
                    r.kind,
                    r.name,
                    r.to_version,
                    expected.kind,
                    expected.name,
                    expected.to_version
                );
            }
        }
        Ok(receipts)
    }

    /// After the last move: fails if any watcher received a move nobody waited for (a
    /// frame for a record the benchmark did not make) or broke since.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        while let Ok(report) = self.rx.try_recv() {
            match report {
                Report::Moved(r) => self.receive(r)?,
                Report::Failed { client, reason } => self.fail(client, &reason)?,
                Report::Ready { client } => bail!("watcher {client} sent a second ready"),
            }
        }
        if let Some((seq, slots)) = self.pending.iter().next() {
            let n = slots.iter().flatten().count();
            bail!("{n} watchers received record {seq}, which the benchmark did not make");
        }
        Ok(())
    }

    /// The next report, or `None` at the deadline.
    async fn next(&mut self, deadline: Instant) -> anyhow::Result<Option<Report>> {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.rx.recv()).await {
            Ok(Some(report)) => Ok(Some(report)),
            Ok(None) => bail!("every watcher task ended"),
            Err(_) => Ok(None),
        }
    }

    fn receive(&mut self, r: Receipt) -> anyhow::Result<()> {
        if self.done.contains(&r.record_seq) {
            bail!(
                "watcher {} received record {} a second time",
                r.client,
                r.record_seq
            );
        }
        let watchers = self.watchers;
        let slots = self
            .pending
            .entry(r.record_seq)
            .or_insert_with(|| vec![None; watchers]);
        let client = r.client;
        if slots[client].replace(r).is_some() {
            bail!("watcher {client} received a record twice");
        }
        Ok(())
    }

    fn fail(&self, client: usize, reason: &str) -> anyhow::Result<()> {
        bail!(
            "watcher {client} (server {}) failed: {reason}",
            self.server_of[client]
        )
    }

    /// "N on server 0, M on server 1; first: 3, 17, ..." for a list of watchers.
    fn describe(&self, clients: &[usize]) -> String {
        let mut per_server: BTreeMap<usize, usize> = BTreeMap::new();
        for &c in clients {
            *per_server.entry(self.server_of[c]).or_default() += 1;
        }
        let servers: Vec<String> = per_server
            .iter()
            .map(|(s, n)| format!("{n} on server {s}"))
            .collect();
        let first: Vec<String> = clients.iter().take(10).map(ToString::to_string).collect();
        format!("{}; first: {}", servers.join(", "), first.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(client: usize, record_seq: i64, to_version: i64) -> Report {
        Report::Moved(Receipt {
            client,
            at: Instant::now(),
            id: 100 + record_seq,
            name: "bench/p".to_owned(),
            record_seq,
            to_version,
            kind: "rollback".to_owned(),
        })
    }

    fn want(record_seq: i64, to_version: i64) -> Expected {
        Expected {
            name: "bench/p".to_owned(),
            record_seq,
            to_version,
            kind: "rollback".to_owned(),
        }
    }

    const SHORT: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn every_watcher_must_have_the_move() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut c = Collector::new(vec![0, 1, 0], rx);
        for client in 0..3 {
            tx.send(Report::Ready { client }).unwrap();
        }
        c.wait_ready(SHORT).await.unwrap();
        // A receipt may come before the move is asked for (before its HTTP answer).
        tx.send(moved(2, 3, 1)).unwrap();
        tx.send(moved(0, 3, 1)).unwrap();
        tx.send(moved(1, 3, 1)).unwrap();
        let got = c.wait_move(&want(3, 1), SHORT).await.unwrap();
        assert_eq!(got.iter().map(|r| r.client).collect::<Vec<_>>(), [0, 1, 2]);

        tx.send(moved(0, 4, 2)).unwrap();
        tx.send(moved(2, 4, 2)).unwrap();
        let err = c.wait_move(&want(4, 2), SHORT).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("MISSED EVENT: 1 of 3"), "{msg}");
        assert!(msg.contains("1 on server 1; first: 1"), "{msg}");
    }

    #[tokio::test]
    async fn duplicates_wrong_versions_and_broken_streams_fail() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut c = Collector::new(vec![0], rx);
        tx.send(moved(0, 3, 1)).unwrap();
        c.wait_move(&want(3, 1), SHORT).await.unwrap();
        tx.send(moved(0, 3, 1)).unwrap();
        let err = c.wait_move(&want(4, 2), SHORT).await.unwrap_err();
        assert!(format!("{err:#}").contains("a second time"), "{err:#}");

        let (tx, rx) = mpsc::unbounded_channel();
        let mut c = Collector::new(vec![0], rx);
        tx.send(moved(0, 5, 2)).unwrap();
        let err = c.wait_move(&want(5, 1), SHORT).await.unwrap_err();
        assert!(format!("{err:#}").contains("the answer said"), "{err:#}");

        let (tx, rx) = mpsc::unbounded_channel();
        let mut c = Collector::new(vec![0, 1], rx);
        tx.send(Report::Ready { client: 0 }).unwrap();
        tx.send(Report::Failed {
            client: 1,
            reason: "resync frame: lagged".to_owned(),
        })
        .unwrap();
        let err = c.wait_ready(SHORT).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("watcher 1 (server 1) failed: resync"),
            "{err:#}"
        );

        let (tx, rx) = mpsc::unbounded_channel();
        let mut c = Collector::new(vec![0], rx);
        tx.send(moved(0, 9, 1)).unwrap();
        assert!(c.finish().is_err(), "a move nobody made must fail the run");
    }
}
