//! The embedded backend: one SQLite file in WAL mode, for a single node.
//!
//! Writes go through a single connection and every write transaction starts with
//! `BEGIN IMMEDIATE`, so a transaction never has to upgrade a read lock into a write lock (the
//! source of "database is locked" errors under load). Reads use a separate small pool and see
//! committed data only. The SQL itself lives in [`sql`](self::sql), shared with PostgreSQL.
//!
//! One node, but not always one process: `ringback keys revoke` may change credentials beside
//! a running server. The server reads the `credentials_version` counter every
//! [`CREDENTIALS_POLL`] and clears its authentication cache when another process bumped it.

use std::{
    str::FromStr,
    sync::{Arc, Weak},
    time::Duration,
};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{CredentialsSignal, StoreError};

// The same SQL is compiled again inside the PostgreSQL backend, against its types.
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)]
mod sql;

/// The SQLite store.
pub use self::sql::SqlStore as SqliteStore;

type Db = sqlx::Sqlite;
type DbConn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type DbPool = sqlx::SqlitePool;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The elements of a callback's `assignees` JSON array, as rows of `j` with column `value`.
const ASSIGNEE_ROWS: &str = "json_each(callbacks.assignees) AS j";

/// A skill the line row `rt` requires (`rt.skills`) that the agent's skills, the JSON object
/// bound as `$4`, do not hold at its level: the offer query's `NOT EXISTS`.
const UNMET_SKILL: &str = "SELECT 1 FROM json_each(rt.skills) AS s WHERE NOT EXISTS \
    (SELECT 1 FROM json_each($4) AS h WHERE h.key = s.key AND h.value >= s.value)";

/// The `debt_ref` of the callback aliased `o`, from its metadata JSON.
const DEBT_REF: &str = "json_extract(o.metadata, '$.debt_ref')";

/// Row locking for a claim. With one writer there is nothing to skip.
const SKIP_LOCKED: &str = "";

/// Opens (creating if missing) the database file at `url` and brings its schema up to date.
pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
    let base = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .pragma("cache_size", "-16384")
        .pragma("temp_store", "memory")
        // Checkpoints (which copy the WAL into the file and fsync it) are made beside the
        // writer by `checkpoints`; a checkpoint on the writer, at a commit that finds this
        // many pages in the WAL (256 MiB), is only the backstop if that task falls behind.
        .pragma("wal_autocheckpoint", "65536");
    // A connection to a local file does not go stale, so it is not pinged before each use
    // (sqlx's default): a ping is a round trip to the connection's worker thread, 4% of the
    // server's CPU in single creates.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(base.clone())
        .await?;
    MIGRATOR.run(&writer).await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(base.clone().read_only(true))
        .await?;
    let seen = credentials_version(&reader).await?;
    let checkpointer = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(base)
        .await?;
    let store = SqliteStore::new(writer, reader.clone());
    tokio::spawn(watch_credentials(
        reader,
        Arc::downgrade(&store.credentials),
        seen,
    ));
    tokio::spawn(checkpoints(
        checkpointer,
        Arc::downgrade(&store.credentials),
    ));
    Ok(store)
}

/// How often the WAL is copied into the database file beside the writer.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies what the WAL holds into the database file every [`CHECKPOINT_EVERY`], on a
/// connection of its own, until the store (whose signal `alive` is) is dropped. A `PASSIVE`
/// checkpoint waits for no reader or writer and takes no write lock, so the writer keeps
/// committing while the pages are copied and the file is synced; at the writer, a checkpoint
/// of 32 MiB of WAL used to stop every write for 50 to 100 ms (the routing benchmark's slowest
/// offers). Once a checkpoint has copied everything, the writer starts the WAL over.
async fn checkpoints(conn: DbPool, alive: Weak<CredentialsSignal>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 {
            return;
        }
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&conn)
            .await
        {
            Ok(_) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot checkpoint the WAL (the writer will)");
                }
                failing = true;
            }
        }
    }
}

/// How often a server looks for credentials changed by another process (`ringback keys
/// revoke`): the longest such a change waits to take effect. Changes made through the server
/// itself take effect at once.
pub const CREDENTIALS_POLL: Duration = Duration::from_millis(100);

async fn credentials_version(reader: &DbPool) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT version FROM credentials_version WHERE id = 1")
            .fetch_one(reader)
            .await?,
    )
}

/// Raises the credentials signal when the counter moved (a change by any process, this one's
/// included: a second clear is harmless), until the store is dropped.
async fn watch_credentials(reader: DbPool, signal: Weak<CredentialsSignal>, mut seen: i64) {
    let mut tick = tokio::time::interval(CREDENTIALS_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(signal) = signal.upgrade() else {
            return;
        };
        match credentials_version(&reader).await {
            Ok(version) => {
                failing = false;
                if version != seen {
                    seen = version;
                    signal.raise();
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read the credentials counter");
                }
                failing = true;
                // Unsure whether anything changed: trust nothing cached.
                signal.raise();
            }
        }
    }
}

/// One node: the `credentials_version` counter, which [`watch_credentials`] reads, is all
/// other processes need.
async fn announce_credentials(_conn: &mut DbConn, _account: &str) -> Result<(), StoreError> {
    Ok(())
}

/// A write transaction: `BEGIN IMMEDIATE` takes the database's write lock at once.
async fn begin_write(pool: &DbPool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// A claim's transaction. With one writer connection, it is a write transaction like any.
async fn begin_claim(pool: &DbPool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    begin_write(pool).await
}

/// SQLite plans each statement when it is prepared and again when the schema's statistics
/// change: nothing to do.
/// A read transaction in WAL mode already sees one snapshot, from its first read on.
async fn read_snapshot(_conn: &mut DbConn) -> Result<(), StoreError> {
    Ok(())
}

async fn plan_for_values(_conn: &mut DbConn) -> Result<(), StoreError> {
    Ok(())
}

/// Inserts rows in multi-row `VALUES` statements, as many rows each as stay well below
/// SQLite's limit of 32,766 bound parameters.
async fn insert_rows(
    conn: &mut DbConn,
    table: &str,
    columns: &str,
    rows: &[Vec<sql::Cell>],
) -> Result<(), StoreError> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    for chunk in rows.chunks((30_000 / width.max(1)).max(1)) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(format!("INSERT INTO {table} ({columns}) "));
        qb.push_values(chunk, |mut b, row| {
            for cell in row {
                match cell {
                    sql::Cell::Text(v) => b.push_bind(v.as_deref()),
                    sql::Cell::Int(v) => b.push_bind(*v),
                };
            }
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every transaction holds the write lock from its start: nothing to take.
async fn lock_writes(_conn: &mut DbConn) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;
    use crate::{
        domain::{AccountId, CallbackId, Origin, Status},
        store::{CallbackSearch, SearchOrder},
    };
    use jiff::Timestamp;

    /// Every common search reads an index in its sort order: no full scan, no sort of the
    /// account's rows, so a page costs the same with a million callbacks as with ten.
    #[tokio::test]
    async fn searches_page_through_an_index_in_sort_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&format!("sqlite://{}/plan.db", dir.path().display()))
            .await
            .unwrap();
        let account = AccountId::generate();
        let after = |scheduled_ms| {
            Some(crate::store::SearchCursor {
                scheduled_ms,
                id: CallbackId::generate(),
            })
        };
        let searches = [
            CallbackSearch::default(),
            CallbackSearch {
                after: after(None),
                ..Default::default()
            },
            CallbackSearch {
                order: SearchOrder::OldestFirst,
                after: after(None),
                ..Default::default()
            },
            CallbackSearch {
                order: SearchOrder::ScheduledAsc,
                after: after(Some(5)),
                ..Default::default()
            },
            CallbackSearch {
                order: SearchOrder::ScheduledDesc,
                ..Default::default()
            },
            CallbackSearch {
                status: Some(Status::Scheduled),
                after: after(None),
                ..Default::default()
            },
            CallbackSearch {
                status: Some(Status::Scheduled),
                order: SearchOrder::ScheduledAsc,
                after: after(Some(5)),
                ..Default::default()
            },
            CallbackSearch {
                origin: Some(Origin::Api),
                ..Default::default()
            },
            CallbackSearch {
                agent: Some("agt_x".into()),
                after: after(None),
                ..Default::default()
            },
            CallbackSearch {
                queue: Some("que_x".into()),
                ..Default::default()
            },
            CallbackSearch {
                scheduled_from: Some(Timestamp::UNIX_EPOCH),
                order: SearchOrder::ScheduledAsc,
                ..Default::default()
            },
        ];
        for search in &searches {
            let rows = sql::manager::search_query("EXPLAIN QUERY PLAN ", &account, search)
                .build()
                .fetch_all(&store.reader)
                .await
                .unwrap();
            let plan: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("detail").unwrap())
                .collect();
            let text = plan.join(" | ");
            assert!(
                text.contains("USING INDEX") || text.contains("USING COVERING INDEX"),
                "{search:?}: {text}"
            );
            assert!(!text.contains("TEMP B-TREE"), "{search:?} sorts: {text}");
            assert!(
                !text.starts_with("SCAN callbacks"),
                "{search:?} scans: {text}"
            );
        }
        // A final status, which few of a large account's callbacks may hold, is read through
        // its own index, newest first, without a sort.
        for status in [
            Status::Completed,
            Status::Failed,
            Status::Canceled,
            Status::Expired,
        ] {
            let search = CallbackSearch {
                status: Some(status),
                after: after(None),
                ..Default::default()
            };
            let rows = sql::manager::search_query("EXPLAIN QUERY PLAN ", &account, &search)
                .build()
                .fetch_all(&store.reader)
                .await
                .unwrap();
            let text = rows
                .iter()
                .map(|r| r.try_get::<String, _>("detail").unwrap())
                .collect::<Vec<_>>()
                .join(" | ");
            let index = format!("callbacks_account_{}", status.as_str());
            assert!(text.contains(&index), "{status:?}: {text}");
            assert!(!text.contains("TEMP B-TREE"), "{status:?} sorts: {text}");
        }
    }
}
