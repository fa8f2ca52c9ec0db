//! The distributed backend: any number of nodes sharing one PostgreSQL database.
//!
//! The SQL is the same as SQLite's ([`sql`](self::sql)); what differs is how nodes stay out of
//! each other's way:
//!
//! - **One writer at a time.** Every write transaction starts by taking one cluster-wide
//!   transaction lock (`pg_advisory_xact_lock`), released by its commit. The shared code was
//!   written for SQLite's single writer, and this keeps every one of its invariants true across
//!   nodes without re-proving each: an agent's offer slot is filled by one node only, campaign
//!   concurrency and attempt caps are counted once, and events are numbered in commit order (so
//!   the webhook outbox and the agents' feeds, read by sequence number, never skip a row that
//!   commits late). Writes are short and batched (a claim takes up to `--claim-batch`
//!   callbacks), so the lock is held for milliseconds; the slow work (HTTP to the dialer
//!   bridge and to webhook endpoints) runs outside it, on whichever node claimed it.
//! - **Claims with leases.** Due callbacks are selected `FOR UPDATE SKIP LOCKED` and marked
//!   `dispatching` under the claiming node's name with a lease, which the node extends while
//!   the work is under way. A node that dies stops extending; once the lease runs out any node
//!   takes the claim over and re-sends it with the same idempotency key. Claims, and the
//!   records of the bridge's answers, are the exception to the one writer: they start with row
//!   locks only, so the claims of several nodes are selected and updated side by side, and
//!   take the write lock (see [`lock_writes`]) just before they write events or apply a rule
//!   that counts across rows (attempt caps, campaign pacing).
//! - **Wake-ups across nodes.** A node that writes an earlier due time, new events or an agent
//!   feed entry tells the others with `NOTIFY ringback` (see [`relay_out`]); each node
//!   `LISTEN`s and wakes its own scheduler, router, webhook fan-out and feed readers. When the
//!   listening connection drops, the node wakes everything once it is back, so nothing waits
//!   for the next idle poll.
//! - **Credentials across nodes.** A transaction that revokes or rotates an API key, or sets or
//!   removes a JWT key, sends `NOTIFY ringback` itself (see [`announce_credentials`]), so the
//!   notification goes out exactly when the change commits, also from a CLI process that exits
//!   right after. Each node clears its authentication cache when it hears one. While its
//!   listening connection is down a node caches no credentials and trusts none it cached; it
//!   clears them again once it listens again.
//! - **Connections.** One pool per node (`--database-max-connections`), every connection with
//!   a `statement_timeout` (`--database-statement-timeout-ms`) and an
//!   `idle_in_transaction_session_timeout`, so a stuck node cannot hold the write lock. A
//!   connection is checked before use and replaced if the database restarted.

use std::{collections::BTreeSet, str::FromStr, sync::Arc, time::Duration};

use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::mpsc;

use super::{Channel, CredentialsSignal, DueSignal, FeedSignals, StoreError, Wake};
use crate::config::DatabaseConfig;
use crate::secrets::file::KeyFile;

// The same SQL is compiled again inside the SQLite backend, against its types.
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)]
mod sql;

/// The PostgreSQL store.
pub use self::sql::SqlStore as PostgresStore;

type Db = sqlx::Postgres;
type DbConn = sqlx::PgConnection;
type DbRow = sqlx::postgres::PgRow;
type DbPool = sqlx::PgPool;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The elements of a callback's `assignees` JSON array, as rows of `j` with column `value`.
const ASSIGNEE_ROWS: &str = "jsonb_array_elements_text(callbacks.assignees::jsonb) AS j(value)";

/// A skill the line row `rt` requires (`rt.skills`) that the agent's skills, the JSON object
/// bound as `$4`, do not hold at its level: the offer query's `NOT EXISTS`.
const UNMET_SKILL: &str = "SELECT 1 FROM jsonb_each(rt.skills::jsonb) AS s(key, value) \
    WHERE NOT EXISTS (SELECT 1 FROM jsonb_each($4::jsonb) AS h(key, value) \
    WHERE h.key = s.key AND h.value >= s.value)";

/// The `debt_ref` of the callback aliased `o`, from its metadata JSON (the expression of the
/// `callbacks_debt_ref` index).
const DEBT_REF: &str = "(o.metadata::jsonb ->> 'debt_ref')";

/// Row locking for a claim: rows another transaction holds are left to it.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// The key of the cluster-wide write lock (`pg_advisory_xact_lock`): "Ring" in ASCII.
const WRITE_LOCK: i64 = 0x5269_6e67;

/// The notification channel nodes wake each other on.
const WAKE_CHANNEL: &str = "ringback";

/// PostgreSQL's limit on a notification payload is 8,000 bytes; agent lists are cut below it.
const MAX_PAYLOAD: usize = 7_000;

/// Connects, brings the schema up to date (the migrator holds an advisory lock, so nodes
/// starting together migrate once) and starts relaying wake-ups between nodes.
/// Its secrets are unlocked with the key file `keys` (`sql/secrets.rs`), every node's the same.
pub async fn open(config: &DatabaseConfig, keys: &KeyFile) -> Result<PostgresStore, StoreError> {
    let statement_timeout = config.database_statement_timeout_ms.to_string();
    let idle_in_transaction = (config.database_statement_timeout_ms * 2).to_string();
    let options = PgConnectOptions::from_str(&config.database_url)?
        .application_name("ringback")
        .options([
            ("statement_timeout", statement_timeout.as_str()),
            (
                "idle_in_transaction_session_timeout",
                idle_in_transaction.as_str(),
            ),
        ]);
    let pool = PgPoolOptions::new()
        .max_connections(config.database_max_connections.max(2))
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(true)
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    let ring = sql::unlock(&pool, keys, Timestamp::now().as_millisecond()).await?;
    let store = PostgresStore::new(pool.clone(), pool.clone(), ring);

    let node = ulid::Ulid::new().to_string();
    let (relay, outgoing) = mpsc::unbounded_channel();
    store.due.relay_to(Channel::Due, relay.clone());
    store.events.relay_to(Channel::Events, relay.clone());
    store.routing.relay_to(Channel::Routing, relay.clone());
    store.agent_feed.relay_to(relay);
    // Until the first `LISTEN`, another node's change would go unheard.
    store.credentials.lose_hearing();
    tokio::spawn(relay_out(pool.clone(), node.clone(), outgoing));
    tokio::spawn(relay_in(
        pool,
        node,
        Signals {
            due: store.due.clone(),
            events: store.events.clone(),
            routing: store.routing.clone(),
            agent_feed: store.agent_feed.clone(),
            credentials: store.credentials.clone(),
        },
    ));
    Ok(store)
}

/// Overwritten rows are dead tuples, which no dump holds and `VACUUM` (autovacuum) reclaims:
/// nothing to do.
async fn erase_freed(_pool: &DbPool) -> Result<(), StoreError> {
    Ok(())
}

/// A write transaction: it waits for the cluster-wide write lock, held until it ends.
async fn begin_write(pool: &DbPool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// An erasure's transaction is an ordinary one: a row PostgreSQL deletes or updates is gone
/// from every snapshot once no transaction can see it, and `VACUUM` (autovacuum) reclaims its
/// space; there is no file-level setting to make it overwrite sooner.
async fn erasure_begun(_conn: &mut DbConn) -> Result<(), StoreError> {
    Ok(())
}

/// Nothing to put back or checkpoint after an erasure.
async fn erasure_done(_pool: &DbPool) {}

/// A claim's transaction (claiming due callbacks, recording the bridge's answers): row locks
/// (`FOR UPDATE SKIP LOCKED`) keep claims of several nodes apart, so it starts without the
/// write lock and takes it with [`lock_writes`] only for what needs it (rules that count
/// across rows, and events).
async fn begin_claim(pool: &DbPool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin().await
}

/// The lock of the audit sealers (`sql::audit_chain`), one at a time across nodes. Not the
/// write lock: sealing touches only entries nobody else writes yet (unsealed ones) and the
/// chains' heads, so claims and other writes go on beside it.
const SEAL_LOCK: i64 = 0x5365_616c;

/// Takes the sealers' lock in a transaction begun with [`begin_claim`].
async fn lock_sealing(conn: &mut DbConn) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEAL_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Plans the rest of the transaction's statements for their parameters. A statement run many
/// times on one connection gets a generic plan, made once; for a lookup of a few hundred phone
/// numbers (`phone IN (...)`) made while the table was nearly empty, that plan scans the
/// account through another index and compares every row with every number, and it is kept as
/// the table grows: a 100,000-row contact import took 76 s, each lookup 2 s.
/// Makes the reads of the transaction just begun see one snapshot (each statement would see its
/// own under READ COMMITTED).
async fn read_snapshot(conn: &mut DbConn) -> Result<(), StoreError> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn plan_for_values(conn: &mut DbConn) -> Result<(), StoreError> {
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Inserts rows in one statement with a typed array per column (`INSERT ... SELECT * FROM
/// UNNEST($1::text[], $2::bigint[], ...)`). PostgreSQL plans it once whatever the number of
/// rows, where a `VALUES` list of thousands of parameters costs more to plan and evaluate than
/// the rows cost to insert.
async fn insert_rows(
    conn: &mut DbConn,
    table: &str,
    columns: &str,
    rows: &[Vec<sql::Cell>],
) -> Result<(), StoreError> {
    enum Column<'a> {
        Text(Vec<Option<&'a str>>),
        Int(Vec<Option<i64>>),
    }
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let mut arrays: Vec<Column> = first
        .iter()
        .map(|cell| match cell {
            sql::Cell::Text(_) => Column::Text(Vec::with_capacity(rows.len())),
            sql::Cell::Int(_) => Column::Int(Vec::with_capacity(rows.len())),
        })
        .collect();
    for row in rows {
        if row.len() != arrays.len() {
            return Err(StoreError::Write(format!(
                "rows of {table} differ in width"
            )));
        }
        for (array, cell) in arrays.iter_mut().zip(row) {
            match (array, cell) {
                (Column::Text(values), sql::Cell::Text(v)) => values.push(v.as_deref()),
                (Column::Int(values), sql::Cell::Int(v)) => values.push(*v),
                _ => {
                    return Err(StoreError::Write(format!(
                        "rows of {table} differ in types"
                    )));
                }
            }
        }
    }
    let parameters: Vec<String> = arrays
        .iter()
        .enumerate()
        .map(|(i, array)| match array {
            Column::Text(_) => format!("${}::text[]", i + 1),
            Column::Int(_) => format!("${}::bigint[]", i + 1),
        })
        .collect();
    let statement = format!(
        "INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({})",
        parameters.join(", ")
    );
    let mut query = sqlx::query(&statement);
    for array in arrays {
        query = match array {
            Column::Text(values) => query.bind(values),
            Column::Int(values) => query.bind(values),
        };
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Takes the write lock inside a transaction that began without it (a no-op when it holds it
/// already: advisory locks are re-entrant). It waits in PostgreSQL's queue for the lock, first
/// come first served, so claims are not starved by the writes that wait for it from their
/// start (an earlier version polled `pg_try_advisory_xact_lock`, which under load lost the lock
/// to every queued writer, and whose polling loaded a busy machine further). Such a transaction
/// holds row locks, and a write holding the lock could be waiting for one of them: PostgreSQL
/// finds that cycle after its `deadlock_timeout` (1 s by default) and fails one of the two,
/// which is retried ([`StoreError::is_unavailable`]). No write that holds the lock waits for
/// rows a claim holds in the ordinary course: lease extensions take no write lock and skip
/// locked rows. After [`LOCK_PATIENCE`] the wait gives up (`lock_timeout`); the caller's
/// transaction rolls back, releasing its rows, and the claim is made again a moment later.
async fn lock_writes(conn: &mut DbConn) -> Result<(), StoreError> {
    // `SET LOCAL` ends with the transaction; the timeout is lifted again at once for the
    // statements that follow.
    let timeout = format!("SET LOCAL lock_timeout = {}", LOCK_PATIENCE.as_millis());
    sqlx::query(&timeout).execute(&mut *conn).await?;
    let locked = sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(&mut *conn)
        .await;
    match locked {
        Ok(_) => {
            sqlx::query("SET LOCAL lock_timeout = 0")
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("55P03" | "40P01")) => {
            Err(StoreError::Busy)
        }
        Err(e) => Err(e.into()),
    }
}

/// How long a claim waits for the write lock before it lets go of its rows. Holders keep it
/// for milliseconds, but on a machine whose cores are all busy the queue ahead of a claim can
/// take seconds to pass; giving up early would only send the claim to the back of it.
const LOCK_PATIENCE: Duration = Duration::from_secs(5);

/// This node's signals, as woken by the other nodes.
struct Signals {
    due: Arc<DueSignal>,
    events: Arc<DueSignal>,
    routing: Arc<DueSignal>,
    agent_feed: Arc<FeedSignals>,
    credentials: Arc<CredentialsSignal>,
}

impl Signals {
    fn get(&self, channel: Channel) -> &DueSignal {
        match channel {
            Channel::Due => &self.due,
            Channel::Events => &self.events,
            Channel::Routing => &self.routing,
        }
    }

    /// After a gap in listening: whatever was announced meanwhile, look now, and trust no
    /// credentials cached before (a change made meanwhile was not heard).
    fn wake_all(&self) {
        for channel in Channel::ALL {
            self.get(channel).notify_local();
        }
        self.credentials.regain_hearing();
    }
}

/// Tells every node, when the transaction commits, that an account's credentials changed
/// (payload `|credentials|ACCOUNT`, from no node in particular: the node that made the change
/// clears its cache once more, harmlessly). `NOTIFY` is transactional: it goes out at the
/// commit, and never for a change rolled back.
async fn announce_credentials(conn: &mut DbConn, account: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(WAKE_CHANNEL)
        .bind(format!("|credentials|{account}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sends this node's wake-ups to the others, coalesced: however many arrive together, one
/// notification per signal (the earliest time) and the agents' feeds in as few as fit.
///
/// Payloads are `NODE|due|MS`, `NODE|events|`, `NODE|routing|MS` (an empty time meaning "now")
/// and `NODE|agents|ID,ID,...`. (Credentials changes are not relayed here but sent by their
/// own transaction: [`announce_credentials`].)
async fn relay_out(pool: DbPool, node: String, mut wakes: mpsc::UnboundedReceiver<Wake>) {
    let mut batch = Vec::with_capacity(1024);
    while wakes.recv_many(&mut batch, 1024).await > 0 {
        // Per channel: None = nothing, Some(None) = now, Some(Some(ms)) = earliest time.
        let mut earliest: [Option<Option<i64>>; 3] = [None; 3];
        let mut agents = BTreeSet::new();
        for wake in batch.drain(..) {
            match wake {
                Wake::At(channel, at) => {
                    let slot = &mut earliest[channel as usize];
                    *slot = Some(match *slot {
                        Some(None) => None,
                        Some(Some(ms)) => Some(ms.min(at.as_millisecond())),
                        None => Some(at.as_millisecond()),
                    });
                }
                Wake::Now(channel) => earliest[channel as usize] = Some(None),
                Wake::Agents(ids) => agents.extend(ids),
            }
        }
        let mut payloads = Vec::new();
        for channel in Channel::ALL {
            if let Some(at) = earliest[channel as usize] {
                let at = at.map(|ms| ms.to_string()).unwrap_or_default();
                payloads.push(format!("{node}|{}|{at}", channel.as_str()));
            }
        }
        let mut list = String::new();
        for agent in agents {
            if list.len() + agent.len() > MAX_PAYLOAD {
                payloads.push(format!("{node}|agents|{list}"));
                list.clear();
            }
            if !list.is_empty() {
                list.push(',');
            }
            list.push_str(&agent);
        }
        if !list.is_empty() {
            payloads.push(format!("{node}|agents|{list}"));
        }
        for payload in payloads {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(WAKE_CHANNEL)
                .bind(&payload)
                .execute(&pool)
                .await;
            if let Err(e) = sent {
                // The other nodes still look at the database on their own within their idle
                // time; a lost wake-up costs latency, never a callback.
                tracing::warn!(error = %e, "telling other nodes of new work failed");
            }
        }
    }
}

/// Listens for the other nodes' wake-ups and raises this node's signals. Reconnects after the
/// connection drops (a database restart), then wakes everything once; in between, the node
/// caches no credentials.
async fn relay_in(pool: DbPool, node: String, signals: Signals) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other nodes; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(WAKE_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        signals.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => deliver(&node, notification.payload(), &signals),
                Ok(None) => {
                    tracing::warn!("lost the database connection that listens for other nodes");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening for other nodes failed");
                    break;
                }
            }
        }
        // What was sent since the connection dropped, and until the next `LISTEN`, is lost
        // (sqlx's own reconnection of this listener is dropped unread).
        signals.credentials.lose_hearing();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Raises the local signal a payload from another node names.
fn deliver(node: &str, payload: &str, signals: &Signals) {
    let mut parts = payload.splitn(3, '|');
    let (Some(from), Some(kind), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if from == node {
        return;
    }
    if kind == "credentials" {
        signals.credentials.raise();
        return;
    }
    if kind == "agents" {
        signals.agent_feed.raise_local(rest.split(','));
        return;
    }
    let Some(channel) = Channel::ALL.into_iter().find(|c| c.as_str() == kind) else {
        return;
    };
    let signal = signals.get(channel);
    match rest.parse::<i64>().ok().map(Timestamp::from_millisecond) {
        Some(Ok(at)) => signal.announce_local(at),
        _ => signal.notify_local(),
    }
}
