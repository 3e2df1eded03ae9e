//! Fault injection against the real `promptreg serve` binary: what a user sees when the things
//! under the server fail, with assertions on every answer and on the state afterwards.
//!
//! - `sigterm`: SIGTERM during concurrent writes (SQLite): requests in flight finish, the
//!   process exits 0, nothing acknowledged is lost or half-written.
//! - `disk_full`: the SQLite data directory on a 4 MiB tmpfs filled up: writes get 507
//!   `storage_full`, reads go on, and after space returns writes work and nothing is corrupt
//!   (needs root for `mount`; skipped, saying so, otherwise).
//! - `pg_restart`: a private PostgreSQL cluster stopped and started again under mixed writes and
//!   resolves: 503 `unavailable` while it is down, `/readyz` truthful, recovery without
//!   restarting promptreg, no acknowledged write lost.
//! - `listen_kill`: two replicas on one PostgreSQL schema; one replica's LISTEN connection is
//!   terminated with `pg_terminate_backend`; it resyncs and `/readyz` says so.
//!
//! The PostgreSQL cases run when `PROMPTREG_TEST_PG_URL` is set, like every PostgreSQL test;
//! they never stop or restart that shared server (`pg_restart` starts a cluster of its own).
//! Slow clients (issue 11, defect 4) are covered in-process by
//! `crates/promptreg-server/tests/api/slow_clients.rs` and not repeated here.
//!
//! Run alone: `cargo test -p promptreg-cli --test faults`.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod disk_full;
mod listen_kill;
mod pg_cluster;
mod pg_restart;
mod server;
mod sigterm;
mod sqlite;
mod writers;
