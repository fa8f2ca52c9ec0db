//! Secrets at rest at the store's boundary: every secret column is sealed when written and
//! opened when read here (with [`crate::secrets::KeyRing`]), so the rest of the code sees
//! plain secrets and the database none.
//!
//! At open, [`unlock`] checks the key file against the key the database names (`secret_keys`:
//! its id and a check value sealed with it), refuses another key, finishes a rotation a crash
//! interrupted, and seals in one transaction whatever a version before this one kept in clear.
//! [`SqlStore::rotate_secrets`] re-encrypts every secret under a new key in one transaction.

use std::sync::Arc;

use sqlx::Row;

use super::{DbPool, SqlStore, begin_write, erase_freed};
use crate::secrets::{
    Key, KeyRing, Slot,
    file::{KeyFile, Loaded},
};
use crate::store::StoreError;

/// A secret column, for the sweeps that read or rewrite every secret (the first start's
/// sealing, rotation).
struct SecretColumn {
    /// The [`Slot`] column: `table.column`.
    slot: &'static str,
    table: &'static str,
    column: &'static str,
    /// The expression of the row's account (`''` for the server's own secrets).
    account: &'static str,
    /// The row's key column.
    id: &'static str,
}

/// Every column that holds a secret.
const SECRET_COLUMNS: [SecretColumn; 7] = [
    SecretColumn {
        slot: SIGNING_SECRET,
        table: "accounts",
        column: "signing_secret",
        account: "id",
        id: "id",
    },
    SecretColumn {
        slot: JWT_KEY,
        table: "accounts",
        column: "jwt_key",
        account: "id",
        id: "id",
    },
    SecretColumn {
        slot: ENDPOINT_SECRET,
        table: "webhook_endpoints",
        column: "secret",
        account: "account_id",
        id: "id",
    },
    SecretColumn {
        slot: TRUNK_SECRET,
        table: "trunks",
        column: "secret",
        account: "account_id",
        id: "id",
    },
    SecretColumn {
        slot: SMTP_PASSWORD,
        table: "notification_settings",
        column: "smtp_password",
        account: "account_id",
        id: "account_id",
    },
    SecretColumn {
        slot: SUBJECT_SALT,
        table: "subject_salts",
        column: "salt",
        account: "account_id",
        id: "account_id",
    },
    SecretColumn {
        slot: SERVER_SECRET,
        table: "server_secrets",
        column: "secret",
        account: "''",
        id: "name",
    },
];

const SIGNING_SECRET: &str = "accounts.signing_secret";
const JWT_KEY: &str = "accounts.jwt_key";
const ENDPOINT_SECRET: &str = "webhook_endpoints.secret";
const TRUNK_SECRET: &str = "trunks.secret";
const SMTP_PASSWORD: &str = "notification_settings.smtp_password";
const SERVER_SECRET: &str = "server_secrets.secret";
const SUBJECT_SALT: &str = "subject_salts.salt";
/// The check value of `secret_keys`, bound to its key's id.
const KEY_CHECK: &str = "secret_keys.check_value";
const CHECK_TEXT: &str = "ringback secret key check";

/// The account's signing secret.
pub(super) fn signing_secret(account: &str) -> Slot<'_> {
    Slot {
        column: SIGNING_SECRET,
        account,
        row: account,
    }
}

/// The account's JWT key (a shared secret for HS256).
pub(super) fn jwt_key(account: &str) -> Slot<'_> {
    Slot {
        column: JWT_KEY,
        account,
        row: account,
    }
}

/// A webhook endpoint's secret.
pub(super) fn endpoint_secret<'a>(account: &'a str, endpoint: &'a str) -> Slot<'a> {
    Slot {
        column: ENDPOINT_SECRET,
        account,
        row: endpoint,
    }
}

/// A trunk's credentials.
pub(super) fn trunk_secret<'a>(account: &'a str, trunk: &'a str) -> Slot<'a> {
    Slot {
        column: TRUNK_SECRET,
        account,
        row: trunk,
    }
}

/// The account's SMTP password.
pub(super) fn smtp_password(account: &str) -> Slot<'_> {
    Slot {
        column: SMTP_PASSWORD,
        account,
        row: account,
    }
}

/// The salt of the account's subject hashes (`audit::subject_salt`): with it, a number's hash
/// can be tested against every candidate number.
pub(super) fn subject_salt(account: &str) -> Slot<'_> {
    Slot {
        column: SUBJECT_SALT,
        account,
        row: account,
    }
}

/// One of the server's own secrets, by name.
pub(super) fn server_secret(name: &str) -> Slot<'_> {
    Slot {
        column: SERVER_SECRET,
        account: "",
        row: name,
    }
}

fn key_check(key_id: &str) -> Slot<'_> {
    Slot {
        column: KEY_CHECK,
        account: "",
        row: key_id,
    }
}

/// `stored` opened with `ring` at `slot`; a value that does not open is a corrupt row, named
/// by its place (never by its value).
pub(super) fn open_with(
    ring: &KeyRing,
    slot: &Slot<'_>,
    stored: &str,
) -> Result<String, StoreError> {
    ring.open(slot, stored).map_err(|e| {
        StoreError::Corrupt(format!(
            "{} of {} {}: {e}",
            slot.column, slot.account, slot.row
        ))
    })
}

impl SqlStore {
    /// The keys this store seals and opens with.
    pub(super) fn ring(&self) -> Arc<KeyRing> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The id of the key secrets are sealed with now.
    pub(crate) fn secret_key_id(&self) -> String {
        self.ring().current().id().to_owned()
    }

    /// `plain` sealed for `slot` under the current key.
    pub(super) fn seal(&self, slot: &Slot<'_>, plain: &str) -> String {
        self.ring().seal(slot, plain)
    }

    /// The secret stored at `slot`.
    pub(super) fn open(&self, slot: &Slot<'_>, stored: &str) -> Result<String, StoreError> {
        open_with(&self.ring(), slot, stored)
    }

    /// Makes `new` the key of every secret: each is opened with the current key and sealed
    /// with `new`, and `secret_keys` names `new`, in one transaction; then freed space is
    /// erased (SQLite). The caller has written `new` beside the key file first and replaces
    /// the key file with it after (see `store::rotate_secret_key`). Returns how many values
    /// were re-encrypted.
    pub(crate) async fn rotate_secrets(&self, new: Key, now_ms: i64) -> Result<u64, StoreError> {
        let old = self.ring();
        let next = KeyRing::new(new);
        let mut tx = self.begin_write().await?;
        let mut count = 0;
        for c in &SECRET_COLUMNS {
            for (account, row, stored) in read_column(&mut tx, c).await? {
                let slot = Slot {
                    column: c.slot,
                    account: &account,
                    row: &row,
                };
                let plain = open_with(&old, &slot, &stored)?;
                write_column(&mut tx, c, &account, &row, &next.seal(&slot, &plain)).await?;
                count += 1;
            }
        }
        sqlx::query("DELETE FROM secret_keys")
            .execute(&mut *tx)
            .await?;
        insert_check(&mut tx, next.current(), now_ms).await?;
        tx.commit().await?;
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        if let Err(e) = erase_freed(&self.writer).await {
            tracing::warn!(error = %e, "re-encrypted, but freed space was not erased");
        }
        Ok(count)
    }
}

async fn read_column(
    conn: &mut super::DbConn,
    c: &SecretColumn,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {account} AS account, {id} AS row_id, {column} AS value FROM {table} \
         WHERE {column} IS NOT NULL",
        account = c.account,
        id = c.id,
        column = c.column,
        table = c.table,
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("account")?,
                r.try_get("row_id")?,
                r.try_get("value")?,
            ))
        })
        .collect()
}

async fn write_column(
    conn: &mut super::DbConn,
    c: &SecretColumn,
    account: &str,
    row: &str,
    sealed: &str,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE {table} SET {column} = $1 WHERE {id} = $2 AND {account} = $3",
        table = c.table,
        column = c.column,
        id = c.id,
        account = c.account,
    ))
    .bind(sealed)
    .bind(row)
    .bind(account)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_check(conn: &mut super::DbConn, key: &Key, now_ms: i64) -> Result<(), StoreError> {
    let check = KeyRing::new(key.clone()).seal(&key_check(key.id()), CHECK_TEXT);
    sqlx::query("INSERT INTO secret_keys (key_id, check_value, created_at) VALUES ($1, $2, $3)")
        .bind(key.id())
        .bind(check)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a start did to the key file after its transaction.
enum FileStep {
    None,
    /// The database's key is the unfinished rotation's new one: the rotation committed.
    Promote,
    /// The database's key is the key file's: the rotation did not commit.
    Discard,
}

/// Checks `file` against the database, finishes an interrupted rotation, and seals the
/// secrets kept in clear (one transaction; then freed space is erased if any was sealed).
/// The key file is made when absent, unless the database's secrets are already sealed with a
/// key: then the start is refused, since a new key could not read them.
pub(crate) async fn unlock(
    pool: &DbPool,
    file: &KeyFile,
    now_ms: i64,
) -> Result<KeyRing, StoreError> {
    let refused = StoreError::Secrets;
    let mut tx = begin_write(pool).await?;
    let named: Vec<(String, String)> =
        sqlx::query_as("SELECT key_id, check_value FROM secret_keys ORDER BY key_id")
            .fetch_all(&mut *tx)
            .await?;
    if let Some((id, _)) = named.first()
        && !file.path().exists()
        && !file.pending_path().exists()
    {
        return Err(refused(format!(
            "this database's secrets are encrypted with key {id}, and the secret key file {} \
             does not exist: start with --secret-key-file naming the key file this database \
             was used with (kept apart from its backups)",
            file.path().display()
        )));
    }
    let Loaded {
        current,
        pending,
        created,
    } = file.load().map_err(|e| refused(e.to_string()))?;
    if created {
        tracing::info!(path = %file.path().display(), key_id = current.id(), "made a new secret key file");
    }
    let opens = |key: &Key, id: &str, check: &str| {
        key.id() == id
            && KeyRing::new(key.clone())
                .open(&key_check(id), check)
                .is_ok_and(|t| t == CHECK_TEXT)
    };
    let (ring, step) = match named.as_slice() {
        [] => (
            KeyRing::new(current),
            if pending.is_some() {
                FileStep::Discard
            } else {
                FileStep::None
            },
        ),
        [(id, check)] => {
            if opens(&current, id, check) {
                let step = if pending.is_some() {
                    FileStep::Discard
                } else {
                    FileStep::None
                };
                (KeyRing::new(current), step)
            } else if let Some(new) = pending.filter(|k| opens(k, id, check)) {
                (KeyRing::new(new), FileStep::Promote)
            } else {
                let also = match file.load().ok().and_then(|l| l.pending) {
                    Some(p) => format!(
                        " (and {} holds key {})",
                        file.pending_path().display(),
                        p.id()
                    ),
                    None => String::new(),
                };
                return Err(refused(format!(
                    "this database's secrets are encrypted with key {id}, but the secret key \
                     file {} holds key {}{also}: start with the key file this database was \
                     used with",
                    file.path().display(),
                    current.id(),
                )));
            }
        }
        _ => {
            return Err(refused(format!(
                "secret_keys names {} keys; it names one",
                named.len()
            )));
        }
    };
    // Every secret: sealed with a key of the ring, or in clear (sealed now).
    let mut sealed = 0u64;
    let mut foreign: Vec<String> = Vec::new();
    for c in &SECRET_COLUMNS {
        for (account, row, stored) in read_column(&mut tx, c).await? {
            match KeyRing::key_id_of(&stored) {
                Some(id) if id == ring.current().id() => {}
                Some(id) => foreign.push(format!("{} of {account} {row} (key {id})", c.slot)),
                None => {
                    let slot = Slot {
                        column: c.slot,
                        account: &account,
                        row: &row,
                    };
                    write_column(&mut tx, c, &account, &row, &ring.seal(&slot, &stored)).await?;
                    sealed += 1;
                }
            }
        }
    }
    if !foreign.is_empty() {
        let shown = foreign
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        return Err(refused(format!(
            "{} secrets are encrypted with a key other than {}, which the key file holds: {shown}",
            foreign.len(),
            ring.current().id(),
        )));
    }
    if named.is_empty() {
        insert_check(&mut tx, ring.current(), now_ms).await?;
    }
    tx.commit().await?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            key_id = ring.current().id(),
            "encrypted the secrets kept in clear"
        );
        erase_freed(pool).await?;
    }
    match step {
        FileStep::None => {}
        FileStep::Promote => {
            file.promote_pending().map_err(|e| refused(e.to_string()))?;
            tracing::info!(
                key_id = ring.current().id(),
                "finished an interrupted key rotation"
            );
        }
        FileStep::Discard => file.discard_pending().map_err(|e| refused(e.to_string()))?,
    }
    Ok(ring)
}
