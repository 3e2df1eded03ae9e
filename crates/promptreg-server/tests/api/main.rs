//! The HTTP API as users see it, on SQLite always and on PostgreSQL when
//! `PROMPTREG_TEST_PG_URL` is set (each test in its own schema, dropped afterwards).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod abort_hook;
mod approvals;
mod audit;
mod auth;
mod authz;
mod bad_input;
mod contract;
mod deploy;
mod diff_bounds;
mod differential;
mod encryption;
mod fast_start;
mod feed_faults;
mod files;
mod gates;
mod grants;
mod langfuse;
mod ledger;
mod ledger_replicas;
mod metrics;
mod nul_input;
mod ofrep;
mod outcomes;
mod projects;
mod render_limits;
mod replica_races;
mod replicas;
mod resolve;
mod retention;
mod rollout_replicas;
mod rollouts;
mod service;
mod slow_clients;
mod store_proxy;
mod tamper;
mod tls;
mod unknown_routes;
mod versions;
mod watch;
mod webhooks;
