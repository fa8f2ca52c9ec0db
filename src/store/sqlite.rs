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
use crate::secrets::file::KeyFile;

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

/// Opens (creating if missing) the database file at `url`, brings its schema up to date and
/// unlocks its secrets with the key file `keys` (`sql/secrets.rs`).
pub async fn open(url: &str, keys: &KeyFile) -> Result<SqliteStore, StoreError> {
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
        .connect_with(base.clone().pragma("secure_delete", WRITER_SECURE_DELETE))
        .await?;
    MIGRATOR.run(&writer).await?;
    let ring = sql::unlock(&writer, keys, jiff::Timestamp::now().as_millisecond()).await?;
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
    let store = SqliteStore::new(writer, reader.clone(), ring);
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

/// Leaves no copy of values overwritten before in the file (secrets that were kept in clear,
/// or sealed with a rotated key): `VACUUM` rebuilds the file from the live rows (no freed pages,
/// no free space inside pages), then `wal_checkpoint(TRUNCATE)` copies the WAL in and empties
/// it. Run after the one-time sealing of a database's secrets and after a key rotation.
async fn erase_freed(pool: &DbPool) -> Result<(), StoreError> {
    sqlx::query("VACUUM").execute(pool).await?;
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(pool)
        .await?;
    if busy != 0 {
        tracing::warn!("the WAL was not emptied (a reader held it); the next checkpoint will");
    }
    Ok(())
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

/// The one writer already serializes the sealers.
async fn lock_sealing(_conn: &mut DbConn) -> Result<(), StoreError> {
    Ok(())
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

/// The writer's `secure_delete` outside erasures. `FAST` zeroes what a write frees inside the
/// pages it writes anyway (a deleted or shrunk cell, a root page whose cells moved to a new
/// child when its table grew), at no extra I/O. Without it a page keeps stale copies of rows
/// that are still live: an erasure found the number and name of its callbacks left in the
/// unallocated middle of the `events` and `audit_log` root pages, written there when those
/// tables first split, long before the erasure, where no later write reaches.
const WRITER_SECURE_DELETE: &str = "FAST";

/// An erasure's transaction overwrites what it deletes: `secure_delete = ON` also zeroes the
/// whole pages it frees (at the cost of writing them), so the erased values are left neither
/// in the pages it changes nor on the free list ([`erasure_done`] puts the setting back).
async fn erasure_begun(conn: &mut DbConn) -> Result<(), StoreError> {
    sqlx::query("PRAGMA secure_delete = ON")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How often, after an erasure, a `TRUNCATE` checkpoint is tried while readers hold older
/// snapshots, and the pause between tries.
const ERASURE_CHECKPOINT_TRIES: u32 = 20;
const ERASURE_CHECKPOINT_PAUSE: Duration = Duration::from_millis(50);

/// After an erasure (committed or not): the writer's `secure_delete` is back to
/// [`WRITER_SECURE_DELETE`], and the WAL,
/// which still holds the pages as they were before the erasure, is checkpointed into the file
/// and truncated to nothing. A reader still on an older snapshot keeps the WAL busy; the
/// checkpoint is tried again a few times (each try waits at most 100 ms for readers, so the
/// writer is never held long), then left to the next erasure or the periodic checkpoints,
/// with a warning.
async fn erasure_done(pool: &DbPool) {
    match pool.acquire().await {
        Ok(mut conn) => {
            if let Err(e) = sqlx::query(&format!("PRAGMA secure_delete = {WRITER_SECURE_DELETE}"))
                .execute(&mut *conn)
                .await
            {
                tracing::warn!(error = %e, "cannot put secure_delete back after an erasure");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot put secure_delete back after an erasure");
            return;
        }
    }
    for _ in 0..ERASURE_CHECKPOINT_TRIES {
        let Ok(mut conn) = pool.acquire().await else {
            break;
        };
        let _ = sqlx::query("PRAGMA busy_timeout = 100")
            .execute(&mut *conn)
            .await;
        let done: Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await;
        let _ = sqlx::query("PRAGMA busy_timeout = 10000")
            .execute(&mut *conn)
            .await;
        drop(conn);
        if let Ok((0, _, _)) = done {
            return;
        }
        tokio::time::sleep(ERASURE_CHECKPOINT_PAUSE).await;
    }
    tracing::warn!("the WAL could not be truncated after an erasure (readers kept it busy)");
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
        let store = open(
            &format!("sqlite://{}/plan.db", dir.path().display()),
            &KeyFile::new(dir.path().join("plan.key")),
        )
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

/// What a backup or a restore wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copied {
    /// The file written.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The schema's last migration in it.
    pub migration: i64,
    /// Callbacks it holds.
    pub callbacks: i64,
}

/// Why a backup or a restore was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CopyError + '_ {
    move |source| CopyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The file a `sqlite://` URL names.
pub(super) fn file_of(url: &str) -> Result<std::path::PathBuf, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?;
    Ok(options.get_filename().to_path_buf())
}

/// Takes a consistent copy of the database at `url` into the new file `to` while the server
/// may be writing: `VACUUM INTO` reads one snapshot (a read transaction, which in WAL mode
/// stops no writer), so the copy holds exactly what was committed when it began. The copy is
/// compact and self-contained (no WAL beside it).
pub async fn backup(url: &str, to: &std::path::Path) -> Result<Copied, CopyError> {
    if to.exists() {
        return Err(CopyError::Refused(format!(
            "{} exists: a backup never overwrites a file",
            to.display()
        )));
    }
    let source = file_of(url)?;
    if !source.exists() {
        return Err(CopyError::Refused(format!(
            "{} does not exist: nothing to back up",
            source.display()
        )));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(StoreError::from)?
        .busy_timeout(Duration::from_secs(30));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(StoreError::from)?;
    let target = to.to_string_lossy().into_owned();
    sqlx::query("VACUUM INTO $1")
        .bind(&target)
        .execute(&pool)
        .await
        .map_err(StoreError::from)?;
    pool.close().await;
    describe(to).await
}

/// Puts the backup `from` in place of the database at `url`, after checking it: SQLite's
/// `integrity_check` passes, it is a Ringback database (its migrations table) of a schema this
/// version knows (not a newer one). The file is copied beside the target and renamed over it,
/// so a failed restore leaves the target as it was; then the schema is brought up to date.
/// An existing target is replaced only with `replace` (its WAL and shared-memory files go
/// with it); the server using it must be stopped first.
pub async fn restore(
    from: &std::path::Path,
    url: &str,
    replace: bool,
) -> Result<Copied, CopyError> {
    if !from.is_file() {
        return Err(CopyError::Refused(format!(
            "{} is not a file",
            from.display()
        )));
    }
    let target = file_of(url)?;
    if target.exists() && !replace {
        return Err(CopyError::Refused(format!(
            "{} exists: stop the server using it, then restore with --replace",
            target.display()
        )));
    }
    check_backup(from).await?;
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let staging = dir.join(format!(
        ".{}.restoring",
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::copy(from, &staging).map_err(io(&staging))?;
    std::fs::File::open(&staging)
        .and_then(|f| f.sync_all())
        .map_err(io(&staging))?;
    for suffix in ["-wal", "-shm"] {
        let side = std::path::PathBuf::from(format!("{}{suffix}", target.display()));
        match std::fs::remove_file(&side) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&side)(e)),
            _ => {}
        }
    }
    std::fs::rename(&staging, &target).map_err(io(&target))?;
    // The schema up to date. Its secrets stay sealed with the key of the database the backup
    // was taken from: the server opening it needs that key file (`--secret-key-file`).
    migrate(url).await?;
    describe(&target).await
}

/// Brings the schema of the database at `url` up to date, and nothing else.
async fn migrate(url: &str) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(())
}

/// Refuses a file that is not a sound Ringback database of a schema this version knows.
async fn check_backup(path: &std::path::Path) -> Result<(), CopyError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    let refused = |why: String| CopyError::Refused(format!("{}: {why}", path.display()));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| refused(format!("not a SQLite database ({e})")))?;
    let checked: Result<String, sqlx::Error> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await;
    match checked {
        Ok(ok) if ok == "ok" => {}
        Ok(problem) => return Err(refused(format!("damaged: {problem}"))),
        Err(e) => return Err(refused(format!("not a SQLite database ({e})"))),
    }
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .map_err(|_| refused("not a Ringback database (no migrations table)".to_owned()))?;
    pool.close().await;
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or_default();
    match newest {
        None => Err(refused(
            "not a Ringback database (no migration applied)".to_owned(),
        )),
        Some(v) if v > known => Err(refused(format!(
            "made by a newer Ringback (schema {v}; this version knows up to {known})"
        ))),
        Some(_) => Ok(()),
    }
}

/// The size, schema and callbacks of a database file.
async fn describe(path: &std::path::Path) -> Result<Copied, CopyError> {
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(StoreError::from)?;
    let migration: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .map_err(StoreError::from)?;
    let callbacks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM callbacks")
        .fetch_one(&pool)
        .await
        .map_err(StoreError::from)?;
    pool.close().await;
    Ok(Copied {
        path: path.display().to_string(),
        bytes,
        migration: migration.unwrap_or_default(),
        callbacks,
    })
}
