//! The propagation benchmark (issue 15): how long a rollback takes to reach every agent that
//! watches the change stream.
//!
//! The `propagation` binary opens N `GET /v1/watch` streams over one or more servers, waits
//! for every `ready` frame, then moves a pointer back and forth (a rollback, then a deploy)
//! through the HTTP API and times, for each move, the interval from its HTTP answer to the
//! last watcher receiving the matching `pointer_moved` frame.
//!
//! - [`sse`]: an incremental Server-Sent Events parser;
//! - [`watcher`]: one watching client (hyper HTTP/1.1 connection, one task);
//! - [`collect`]: waits for every watcher's receipt of a move, and fails on a miss;
//! - [`stats`]: the per-move figures and their percentiles;
//! - [`run`]: one run (seeding, watchers, moves), what the binary and the test call.

pub mod collect;
pub mod run;
pub mod sse;
pub mod stats;
pub mod watcher;
