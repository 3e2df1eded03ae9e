//! Failed authentication attempts, counted per client address: after `limit` failures within
//! a window (a minute by default), the address gets 429 with `Retry-After` until the window
//! (counted from its first failure) ends, even with a correct credential, so that guessing
//! tokens costs a minute per `limit` guesses. The table holds at most [`MAX_ADDRESSES`]
//! addresses: when it is full, windows that ended are dropped first, then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Addresses remembered at most (a flood of addresses evicts the oldest windows).
pub const MAX_ADDRESSES: usize = 10_000;

/// Default failures allowed per address and window.
pub const DEFAULT_LIMIT: u32 = 20;

/// One address's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The per-address failure counter.
pub struct AuthThrottle {
    limit: u32,
    window: Duration,
    capacity: usize,
    table: Mutex<HashMap<IpAddr, Window>>,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT, Duration::from_secs(60))
    }
}

impl AuthThrottle {
    /// At most `limit` failures per address within `window` (`limit` 0: no limit).
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_capacity(limit, window, MAX_ADDRESSES)
    }

    /// [`AuthThrottle::new`] remembering at most `capacity` addresses.
    pub fn with_capacity(limit: u32, window: Duration, capacity: usize) -> Self {
        Self {
            limit,
            window,
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `ip` may try again, when it has used up its failures.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let table = self.table.lock();
        let w = table.get(&ip)?;
        let elapsed = w.started.elapsed();
        if w.failures < self.limit || elapsed >= self.window {
            return None;
        }
        let left = self.window - elapsed;
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    /// Counts a failed attempt from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let mut table = self.table.lock();
        let now = Instant::now();
        if let Some(w) = table.get_mut(&ip) {
            if now.duration_since(w.started) >= self.window {
                *w = Window {
                    started: now,
                    failures: 1,
                };
            } else {
                w.failures = w.failures.saturating_add(1);
            }
            return;
        }
        if table.len() >= self.capacity {
            let window = self.window;
            table.retain(|_, w| now.duration_since(w.started) < window);
        }
        if table.len() >= self.capacity {
            if let Some(oldest) = table
                .iter()
                .min_by_key(|(_, w)| w.started)
                .map(|(ip, _)| *ip)
            {
                table.remove(&oldest);
            }
        }
        table.insert(
            ip,
            Window {
                started: now,
                failures: 1,
            },
        );
    }

    /// How many addresses are remembered.
    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_and_others_are_not() {
        let t = AuthThrottle::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            t.failed(ip(1));
        }
        assert_eq!(t.blocked(ip(1)), None);
        t.failed(ip(1));
        let wait = t.blocked(ip(1)).unwrap_or_default();
        assert!((59..=60).contains(&wait), "{wait}");
        assert_eq!(t.blocked(ip(2)), None);
    }

    #[test]
    fn a_window_that_ended_starts_over() {
        let t = AuthThrottle::new(1, Duration::from_millis(1));
        t.failed(ip(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(t.blocked(ip(1)), None);
        t.failed(ip(1));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn the_table_is_bounded_and_evicts_the_oldest() {
        let t = AuthThrottle::with_capacity(1, Duration::from_secs(60), 3);
        for n in 1..=5 {
            t.failed(ip(n));
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.blocked(ip(1)), None, "the oldest was evicted");
        assert!(t.blocked(ip(5)).is_some());
    }

    #[test]
    fn a_limit_of_zero_turns_it_off() {
        let t = AuthThrottle::new(0, Duration::from_secs(60));
        t.failed(ip(1));
        assert_eq!(t.blocked(ip(1)), None);
        assert!(t.is_empty());
    }
}
