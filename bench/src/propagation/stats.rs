//! The figures: per move, when the last watcher (and the median one) had the frame, measured
//! from the HTTP answer; over all moves, nearest-rank percentiles of those.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::watcher::Receipt;

/// Nearest-rank percentile `q` (0–100) of ascending `sorted`; 0 for no values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A distribution of durations in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dist {
    /// How many values.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile (nearest rank: with 100 values, the second largest).
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Smallest.
    pub min: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Dist {
    /// The distribution of `values` (milliseconds).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        let mean = if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        };
        Self {
            n: v.len(),
            p50: round3(percentile(&v, 50.0)),
            p90: round3(percentile(&v, 90.0)),
            p99: round3(percentile(&v, 99.0)),
            max: round3(v.last().copied().unwrap_or(0.0)),
            min: round3(v.first().copied().unwrap_or(0.0)),
            mean: round3(mean),
        }
    }
}

/// Microsecond precision is all a millisecond figure needs.
fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One timed pointer move.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Round {
    /// `deploy` or `rollback`.
    pub kind: String,
    /// The version made live.
    pub to_version: i64,
    /// The frame id (project log seq) the watchers received.
    pub log_seq: i64,
    /// From sending the request to its complete HTTP answer.
    pub answer_ms: f64,
    /// From the answer to the last watcher receiving the frame (0 if all had it before).
    pub last_ms: f64,
    /// From the answer to the median watcher receiving it.
    pub median_ms: f64,
    /// From sending the request to the last watcher receiving the frame.
    pub last_from_request_ms: f64,
    /// Watchers that had the frame before the HTTP answer arrived.
    pub before_answer: usize,
    /// Per server: from the answer to its last watcher receiving the frame.
    pub last_by_server_ms: Vec<f64>,
}

impl Round {
    /// The figures of one move from its request/answer times and every watcher's receipt;
    /// `server_of[c]` is the server of watcher `c`, among `servers`.
    pub fn measure(
        kind: &str,
        to_version: i64,
        sent: Instant,
        answered: Instant,
        receipts: &[Receipt],
        server_of: &[usize],
        servers: usize,
    ) -> Self {
        let mut after: Vec<f64> = receipts
            .iter()
            .map(|r| ms(r.at.saturating_duration_since(answered)))
            .collect();
        after.sort_by(f64::total_cmp);
        let mut by_server = vec![0.0_f64; servers];
        for r in receipts {
            let s = &mut by_server[server_of[r.client]];
            *s = s.max(ms(r.at.saturating_duration_since(answered)));
        }
        let last_at = receipts.iter().map(|r| r.at).max().unwrap_or(answered);
        Self {
            kind: kind.to_owned(),
            to_version,
            log_seq: receipts.first().map_or(0, |r| r.id),
            answer_ms: round3(ms(answered - sent)),
            last_ms: round3(after.last().copied().unwrap_or(0.0)),
            median_ms: round3(percentile(&after, 50.0)),
            last_from_request_ms: round3(ms(last_at.saturating_duration_since(sent))),
            before_answer: receipts.iter().filter(|r| r.at < answered).count(),
            last_by_server_ms: by_server.into_iter().map(round3).collect(),
        }
    }
}

/// The figures over every move of one kind.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Moves measured.
    pub moves: usize,
    /// Answer → last watcher: the headline figure.
    pub last_ms: Dist,
    /// Answer → median watcher.
    pub median_ms: Dist,
    /// Request sent → last watcher (includes the write itself).
    pub last_from_request_ms: Dist,
    /// Request sent → HTTP answer.
    pub answer_ms: Dist,
    /// Per server, answer → its last watcher.
    pub last_by_server_ms: Vec<Dist>,
    /// Receipts (over all moves and watchers) that came before the HTTP answer.
    pub receipts_before_answer: usize,
}

impl Summary {
    /// Summarises `rounds` (all of one kind) of a run over `servers` servers.
    pub fn of(rounds: &[&Round], servers: usize) -> Self {
        Self {
            moves: rounds.len(),
            last_ms: Dist::of(rounds.iter().map(|r| r.last_ms)),
            median_ms: Dist::of(rounds.iter().map(|r| r.median_ms)),
            last_from_request_ms: Dist::of(rounds.iter().map(|r| r.last_from_request_ms)),
            answer_ms: Dist::of(rounds.iter().map(|r| r.answer_ms)),
            last_by_server_ms: (0..servers)
                .map(|s| Dist::of(rounds.iter().map(|r| r.last_by_server_ms[s])))
                .collect(),
            receipts_before_answer: rounds.iter().map(|r| r.before_answer).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        let d = Dist::of([3.0, 1.0, 2.0]);
        assert_eq!((d.min, d.p50, d.max, d.mean, d.n), (1.0, 2.0, 3.0, 2.0, 3));
    }

    fn receipt(client: usize, at: Instant) -> Receipt {
        Receipt {
            client,
            at,
            id: 42,
            name: "p".to_owned(),
            record_seq: 3,
            to_version: 1,
            kind: "rollback".to_owned(),
        }
    }

    #[test]
    fn a_round_is_timed_from_the_answer_to_the_last_receipt() {
        let sent = Instant::now();
        let answered = sent + Duration::from_millis(2);
        let receipts = vec![
            receipt(0, sent + Duration::from_millis(1)),
            receipt(1, answered + Duration::from_millis(5)),
            receipt(2, answered + Duration::from_millis(9)),
            receipt(3, answered + Duration::from_millis(4)),
        ];
        let r = Round::measure("rollback", 1, sent, answered, &receipts, &[0, 1, 0, 1], 2);
        assert_eq!(r.answer_ms, 2.0);
        assert_eq!(r.last_ms, 9.0);
        assert_eq!(r.last_from_request_ms, 11.0);
        // Answer-relative: 0 (before the answer), 4, 5, 9 -> nearest-rank median 4.
        assert_eq!(r.median_ms, 4.0);
        assert_eq!(r.before_answer, 1);
        assert_eq!(r.last_by_server_ms, vec![9.0, 5.0]);
        assert_eq!(r.log_seq, 42);
        let s = Summary::of(&[&r, &r], 2);
        assert_eq!(
            (s.moves, s.last_ms.max, s.receipts_before_answer),
            (2, 9.0, 2)
        );
        assert_eq!(s.last_by_server_ms[1].p99, 5.0);
    }
}
