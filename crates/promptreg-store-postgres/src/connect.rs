//! Connecting: the pool, the embedded migrations and the notification channel name.

use std::str::FromStr;
use std::time::Duration;

use promptreg_store::{StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::PgStore;

/// The schema, embedded at build time and applied (append-only) on every connect.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Connections per store: writes are short transactions, reads are served from the server's
/// index, so a few connections go a long way and many replicas still fit the server's limit.
const POOL_SIZE: u32 = 8;

/// How long a query waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection idle longer than this is pinged before it is handed out. sqlx pings every
/// connection on release anyway (so one that broke while in use is dropped then); pinging on
/// every acquire as well would add a round trip to every query and every write transaction
/// (a seventh of a publish), so only connections that may have gone stale while idle (a
/// database restart, a network cut) are checked.
const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// The notification channel of the default schema.
const CHANNEL: &str = "promptreg_events";

/// PostgreSQL truncates identifiers (channel names included) to this many bytes.
const MAX_IDENTIFIER: usize = 63;

impl PgStore {
    /// Connects to a `postgres://` URL and applies pending migrations.
    ///
    /// # Errors
    /// `StoreError::Other` when the URL does not parse, the database cannot be reached or a
    /// migration fails.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::other)?;
        Self::connect_with(options).await
    }

    /// Connects with explicit options (e.g. a `search_path`) and applies pending migrations.
    ///
    /// # Errors
    /// `StoreError::Other` when the database cannot be reached or a migration fails.
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_PING_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(StoreError::other)?;
        MIGRATOR.run(&pool).await.map_err(StoreError::other)?;
        let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(StoreError::other)?;
        Ok(PgStore {
            pool,
            options,
            channel: channel_name(schema.as_deref().unwrap_or("public")),
        })
    }

    /// The options this store connects with (search path included), e.g. to open a second
    /// store on the same schema as another replica would.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// The `LISTEN`/`NOTIFY` channel this store's writes are announced on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `promptreg_events`, suffixed with the schema unless it is `public`, so that stores in
/// separate schemas of one database (parallel tests, tenants) do not hear each other.
fn channel_name(schema: &str) -> String {
    if schema == "public" {
        return CHANNEL.to_owned();
    }
    let mut channel = format!("{CHANNEL}_");
    channel.extend(schema.chars().map(|c| match c.to_ascii_lowercase() {
        c @ ('a'..='z' | '0'..='9' | '_') => c,
        _ => '_',
    }));
    channel.truncate(MAX_IDENTIFIER);
    channel
}

#[cfg(test)]
mod tests {
    use super::channel_name;

    #[test]
    fn channel_names_are_plain_identifiers_per_schema() {
        assert_eq!(channel_name("public"), "promptreg_events");
        assert_eq!(channel_name("t_ab12"), "promptreg_events_t_ab12");
        assert_eq!(channel_name("Tenant-A.é"), "promptreg_events_tenant_a__");
        assert_eq!(channel_name(&"x".repeat(100)).len(), 63);
    }
}
