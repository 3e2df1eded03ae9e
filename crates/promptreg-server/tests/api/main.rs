//! The HTTP API as users see it, on SQLite always and on PostgreSQL when
//! `PROMPTREG_TEST_PG_URL` is set (each test in its own schema, dropped afterwards).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod auth;
mod bad_input;
mod deploy;
mod files;
mod langfuse;
mod metrics;
mod nul_input;
mod replicas;
mod resolve;
mod service;
mod slow_clients;
mod versions;
