//! Background work under one supervisor: each task is restarted (with back-off) when it fails
//! or ends on its own, and all of them stop on one shutdown token, which `promptreg serve`
//! cancels after the HTTP server has drained.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// First wait before restarting a failed task; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Supervised background tasks (cheap to clone: clones share the tasks and the token).
#[derive(Clone, Default)]
pub struct Supervisor {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Supervisor {
    /// The shutdown token (cancelled by [`Supervisor::shutdown`]).
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs `task(stop)` until shutdown, restarting it whenever it returns before then.
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let mut backoff = MIN_BACKOFF;
            loop {
                let started = tokio::time::Instant::now();
                let outcome = tokio::select! {
                    () = stop.cancelled() => return,
                    outcome = task(stop.clone()) => outcome,
                };
                if stop.is_cancelled() {
                    return;
                }
                match outcome {
                    Ok(()) => tracing::warn!(task = name, "background task ended; restarting"),
                    Err(e) => tracing::error!(task = name, error = %e, "background task failed; restarting"),
                }
                if started.elapsed() > MAX_BACKOFF {
                    backoff = MIN_BACKOFF;
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }

    /// Stops every task and waits for them.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
