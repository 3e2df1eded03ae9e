//! End to end: the built `promptreg` binary against a real server on port 0, configured
//! through `PROMPTREG_URL` and `PROMPTREG_TOKEN` like a user's shell. Every test runs on
//! SQLite always and on PostgreSQL when `PROMPTREG_TEST_PG_URL` is set (each in its own
//! schema, dropped afterwards); `crash` kills a real `promptreg serve` with SIGKILL.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod approvals;
#[cfg(unix)]
mod audit;
mod crash;
mod deploy;
mod errors;
mod gates;
mod kek;
mod key_pairs;
mod output;
mod pipes;
mod policy;
mod projects;
mod push;
mod recovery;
mod roles;
mod rollouts;
mod serve;
mod tls;
mod verify;
mod watch;
