//! The SQL of data subjects: everything held about a number, and its erasure in one write
//! transaction (`domain::erasure` says what replaces what). Also the one place that turns a
//! number into the keys it may be stored under ([`stored_forms`]): itself, and, in an account
//! that erased it, its erased key, which every do-not-call and consent check reads through.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::audit_chain::{CHAINED_COLUMNS, chained_entry_of};
use super::{
    CALLBACK_COLUMNS, Db, DbConn, DbRow, SqlStore,
    audit::{insert_audit_about, redact_entries, subject_of},
    callbacks::{Untouched, attempts_on, cancel_untouched},
    contacts::contacts_where,
    erasure_begun, erasure_done,
    events::history_on,
    rows::callback_from_row,
    ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, Callback, CallbackView, PhoneNumber, audit_chain,
    contact::ContactDetails,
    erasure::{ErasureCounts, Needles, erased_key, masked_phone},
};
use crate::secrets::KeyRing;
use crate::store::{
    ChainedEntry, StoreError,
    subjects::{Erasure, PendingMessage, SubjectData, SubjectRecording, SubjectStore},
};

/// Rows per statement of the erasure's `IN` lists.
const CHUNK: usize = 400;

/// The keys each of `numbers` (`(account, phone)`) may be stored under in `table`
/// (`dnc_entries` or `consents`, both keyed by account and phone first): the number itself,
/// and its erased key in the accounts whose rows of `table` hold erased numbers. Answers
/// `(account, key) → phone`.
pub(super) async fn stored_forms(
    conn: &mut DbConn,
    ring: &KeyRing,
    table: &'static str,
    numbers: &[(&str, &str)],
) -> Result<HashMap<(String, String), String>, StoreError> {
    let mut forms: HashMap<(String, String), String> = numbers
        .iter()
        .map(|(account, phone)| ((account.to_string(), phone.to_string()), phone.to_string()))
        .collect();
    let accounts: HashSet<&str> = numbers.iter().map(|(account, _)| *account).collect();
    for account in accounts {
        // A range of the primary key: does the account hold any erased number here?
        let erased: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE account_id = $1 \
             AND phone >= 'erased:' AND phone < 'erased;')"
        ))
        .bind(account)
        .fetch_one(&mut *conn)
        .await?;
        if !erased {
            continue;
        }
        let Some(salt) = super::audit::stored_salt(conn, ring, account).await? else {
            continue;
        };
        for (_, phone) in numbers.iter().filter(|(a, _)| *a == account) {
            let key = erased_key(&audit_chain::subject_hash(&salt, phone));
            forms.insert((account.to_owned(), key), phone.to_string());
        }
    }
    Ok(forms)
}

/// The rows of `table` (`dnc_entries` or `consents`, keyed by account and phone first) stored
/// under any form of `numbers` (`(account, phone)`, see [`stored_forms`]), each with the
/// account and the number it stands for; `columns` are read after `account_id, phone`. Reads
/// nothing more when the table is empty.
pub(super) async fn rows_of_numbers(
    conn: &mut DbConn,
    ring: &KeyRing,
    table: &'static str,
    columns: &str,
    numbers: &[(&str, &str)],
) -> Result<Vec<(String, String, DbRow)>, StoreError> {
    let mut found = Vec::new();
    if numbers.is_empty() {
        return Ok(found);
    }
    let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
        .fetch_one(&mut *conn)
        .await?;
    if !any {
        return Ok(found);
    }
    let forms = stored_forms(conn, ring, table, numbers).await?;
    let keys: Vec<&(String, String)> = forms.keys().collect();
    for chunk in keys.chunks(CHUNK) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT account_id, phone{columns} FROM {table} WHERE (account_id, phone) IN (VALUES "
        ));
        let mut sep = qb.separated(", ");
        for (account, key) in chunk {
            sep.push("(")
                .push_bind_unseparated(account.as_str())
                .push_unseparated(", ")
                .push_bind_unseparated(key.as_str())
                .push_unseparated(")");
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await? {
            let account: String = row.try_get("account_id")?;
            let key: String = row.try_get("phone")?;
            if let Some(phone) = forms.get(&(account.clone(), key)) {
                found.push((account, phone.clone(), row));
            }
        }
    }
    Ok(found)
}

/// The free texts of the callbacks and contacts about to be erased, and their ids.
struct Found {
    callbacks: Vec<String>,
    contacts: Vec<String>,
    /// The callbacks' own webhook URLs that mention the person (they are cleared).
    urls_naming: Vec<String>,
}

/// Pushes `ids` as a parenthesised list of bound values.
fn push_ids<'a>(qb: &mut QueryBuilder<'a, Db>, ids: &'a [String]) {
    qb.push("(");
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(id.as_str());
    }
    qb.push(")");
}

/// Reads the callbacks and contacts of the number, adding their texts to `needles`.
async fn find_rows(
    conn: &mut DbConn,
    account: &AccountId,
    phone: &PhoneNumber,
    needles: &mut Needles,
) -> Result<Found, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE account_id = $1 AND phone = $2 ORDER BY id"
    ))
    .bind(account.as_str())
    .bind(phone.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut callbacks = Vec::with_capacity(rows.len());
    let mut urls = Vec::new();
    for row in &rows {
        let cb = callback_from_row(row)?;
        for text in [
            &cb.contact_name,
            &cb.notes,
            &cb.initial_message,
            &cb.interaction_id,
        ]
        .into_iter()
        .flatten()
        {
            needles.add_text(text);
        }
        if let Some(metadata) = &cb.metadata {
            needles.add_json(&serde_json::Value::Object(metadata.clone()));
        }
        if let Some(url) = &cb.webhook_url {
            urls.push((cb.id.as_str().to_owned(), url.as_str().to_owned()));
        }
        callbacks.push(cb.id.as_str().to_owned());
    }
    let mut contacts = Vec::new();
    let columns = ContactDetails::NAMES.join(", ");
    let rows = sqlx::query(&format!(
        "SELECT id, external_id, custom_fields, {columns} FROM contacts \
         WHERE account_id = $1 AND phone = $2"
    ))
    .bind(account.as_str())
    .bind(phone.as_str())
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        for name in ContactDetails::NAMES.iter().copied().chain(["external_id"]) {
            if let Some(text) = row.try_get::<Option<String>, _>(name)? {
                needles.add_text(&text);
            }
        }
        let custom: String = row.try_get("custom_fields")?;
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&custom) {
            needles.add_json(&value);
        }
        contacts.push(row.try_get("id")?);
    }
    let urls_naming = urls
        .into_iter()
        .filter(|(_, url)| needles.mentioned_in(url))
        .map(|(id, _)| id)
        .collect();
    Ok(Found {
        callbacks,
        contacts,
        urls_naming,
    })
}

/// `UPDATE`/`DELETE ... WHERE account_id = $account AND <column> IN (ids)` over `ids` in
/// chunks; answers the rows changed.
async fn for_ids(
    conn: &mut DbConn,
    statement: &str,
    account: &AccountId,
    column: &str,
    ids: &[String],
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for chunk in ids.chunks(CHUNK) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(statement);
        qb.push(" WHERE account_id = ")
            .push_bind(account.as_str())
            .push(format!(" AND {column} IN "));
        push_ids(&mut qb, chunk);
        changed += qb.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(changed)
}

/// The account's rows of `table` whose text `column` holds the number (any form): their
/// keys (`key` column).
async fn naming_number(
    conn: &mut DbConn,
    account: &AccountId,
    table: &str,
    key: &str,
    columns: &[&str],
    needles: &Needles,
) -> Result<Vec<i64>, StoreError> {
    let mut qb: QueryBuilder<Db> =
        QueryBuilder::new(format!("SELECT {key} FROM {table} WHERE account_id = "));
    qb.push_bind(account.as_str().to_owned()).push(" AND (");
    let mut first = true;
    for column in columns {
        for form in needles.number_forms() {
            if !first {
                qb.push(" OR ");
            }
            first = false;
            qb.push(format!("{column} LIKE "))
                .push_bind(format!("%{form}%"));
        }
    }
    qb.push(")");
    Ok(qb.build_query_scalar().fetch_all(&mut *conn).await?)
}

/// What an erased event's `data` becomes: no details, and the callback as it stands masked.
fn erased_event_data(cb: Option<&Callback>) -> String {
    let mut data = serde_json::json!({ "erased": true });
    if let Some(cb) = cb {
        data["object"] = serde_json::to_value(CallbackView::from(cb)).unwrap_or_default();
    }
    data.to_string()
}

impl SqlStore {
    async fn erase_in_one_transaction(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(Erasure, Vec<String>, bool), StoreError> {
        let ring = self.ring();
        let mut tx = self.begin_write().await?;
        erasure_begun(&mut tx).await?;
        let subject = subject_of(&mut tx, &ring, account.as_str(), phone.as_str()).await?;
        let mut counts = ErasureCounts::default();

        // Nothing more is called: what is still to be called is canceled first, so its
        // cancel event and feed entries are masked below with the rest.
        let (canceled, told) =
            cancel_untouched(&mut tx, account, Untouched::To(phone), "erased", now, actor).await?;
        counts.callbacks_canceled = canceled.len() as u64;

        let mut needles = Needles::of(phone);
        let found = find_rows(&mut tx, account, phone, &mut needles).await?;
        let ids = &found.callbacks;

        // The callbacks keep ids, statuses, times and attempts; nothing personal.
        counts.callbacks = sqlx::query(
            "UPDATE callbacks SET phone = $1, contact_name = NULL, notes = NULL, \
             metadata = NULL, initial_message = NULL, interaction_id = NULL \
             WHERE account_id = $2 AND phone = $3",
        )
        .bind(masked_phone(&subject))
        .bind(account.as_str())
        .bind(phone.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        for_ids(
            &mut tx,
            "UPDATE callbacks SET webhook_url = NULL",
            account,
            "id",
            &found.urls_naming,
        )
        .await?;
        for_ids(
            &mut tx,
            "UPDATE events SET webhook_url = NULL",
            account,
            "resource_id",
            &found.urls_naming,
        )
        .await?;

        // Their attempts: the recordings' files are deleted once the rows stop naming them.
        let mut recordings = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT recording_ref FROM calls WHERE recording_ref IS NOT NULL \
                 AND account_id = ",
            );
            qb.push_bind(account.as_str()).push(" AND callback_id IN ");
            push_ids(&mut qb, chunk);
            recordings.extend(
                qb.build_query_scalar::<String>()
                    .fetch_all(&mut *tx)
                    .await?,
            );
        }
        counts.attempts = for_ids(
            &mut tx,
            "UPDATE calls SET notes = NULL, provider_details = NULL, recording_ref = NULL",
            account,
            "callback_id",
            ids,
        )
        .await?;

        // Events: those of the callbacks, and any other that names the number, keep their
        // type, time and place in the log; their payload becomes a minimal object.
        let mut masked: HashMap<String, Callback> = HashMap::new();
        for id in ids {
            let row = sqlx::query(&format!(
                "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = $1 AND account_id = $2"
            ))
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_one(&mut *tx)
            .await?;
            masked.insert(id.clone(), callback_from_row(&row)?);
        }
        let mut events: Vec<(i64, String)> = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("SELECT seq, resource_id FROM events WHERE account_id = ");
            qb.push_bind(account.as_str()).push(" AND resource_id IN ");
            push_ids(&mut qb, chunk);
            events.extend(
                qb.build_query_as::<(i64, String)>()
                    .fetch_all(&mut *tx)
                    .await?,
            );
        }
        let mut seen: HashSet<i64> = events.iter().map(|(seq, _)| *seq).collect();
        for seq in naming_number(
            &mut tx,
            account,
            "events",
            "seq",
            &["data", "changes"],
            &needles,
        )
        .await?
        {
            if seen.insert(seq) {
                events.push((seq, String::new()));
            }
        }
        for (seq, resource) in &events {
            sqlx::query(
                "UPDATE events SET data = $1, changes = NULL WHERE account_id = $2 AND seq = $3",
            )
            .bind(erased_event_data(masked.get(resource)))
            .bind(account.as_str())
            .bind(*seq)
            .execute(&mut *tx)
            .await?;
        }
        counts.events = events.len() as u64;
        for chunk in events.chunks(CHUNK) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "DELETE FROM webhook_deliveries WHERE status = 'pending' AND account_id = ",
            );
            qb.push_bind(account.as_str()).push(" AND event_seq IN (");
            let mut sep = qb.separated(", ");
            for (seq, _) in chunk {
                sep.push_bind(*seq);
            }
            qb.push(")");
            counts.webhook_deliveries += qb.build().execute(&mut *tx).await?.rows_affected();
        }

        // Agents' feeds: the entries about the callbacks, and any naming the number.
        let mut feed: Vec<i64> = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("SELECT seq FROM agent_events WHERE account_id = ");
            qb.push_bind(account.as_str()).push(" AND callback_id IN ");
            push_ids(&mut qb, chunk);
            feed.extend(qb.build_query_scalar::<i64>().fetch_all(&mut *tx).await?);
        }
        feed.extend(
            naming_number(&mut tx, account, "agent_events", "seq", &["data"], &needles).await?,
        );
        feed.sort_unstable();
        feed.dedup();
        for chunk in feed.chunks(CHUNK) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE agent_events SET data = '{\"erased\":true}' WHERE account_id = ",
            );
            qb.push_bind(account.as_str()).push(" AND seq IN (");
            let mut sep = qb.separated(", ");
            for seq in chunk {
                sep.push_bind(*seq);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
        }
        counts.feed_entries = feed.len() as u64;

        // Messages not sent yet, and remembered answers that show the number.
        counts.messages = for_ids(
            &mut tx,
            "DELETE FROM notification_outbox",
            account,
            "callback_id",
            ids,
        )
        .await?;
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new("DELETE FROM idempotency_keys WHERE account_id = ");
        qb.push_bind(account.as_str()).push(" AND (");
        for (i, form) in needles.number_forms().iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            qb.push("body LIKE ").push_bind(format!("%{form}%"));
        }
        qb.push(")");
        counts.idempotency_responses = qb.build().execute(&mut *tx).await?.rows_affected();

        // The contacts go.
        counts.contacts = for_ids(
            &mut tx,
            "DELETE FROM contacts",
            account,
            "id",
            &found.contacts,
        )
        .await?;

        // Do-not-call and consent stay, keyed by the number's hash.
        let key = erased_key(&subject);
        counts.dnc_entries = rekey_dnc(&mut tx, account, phone, &key, &needles).await?;
        counts.consents = rekey_consents(&mut tx, account, phone, &key).await?;

        // The audit trail keeps every entry; those holding the person's data lose their
        // content (the chain keeps verifying). Entries keyed by the subject hash with nothing
        // personal in them stay as they are.
        let mut resources: Vec<String> = ids.clone();
        resources.extend(found.contacts.iter().cloned());
        let mut audit: Vec<(i64, Option<String>, String, bool)> = Vec::new();
        for chunk in resources.chunks(CHUNK) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT seq, resource_id, changes FROM audit_log WHERE redacted_at IS NULL \
                 AND account_id = ",
            );
            qb.push_bind(account.as_str()).push(" AND resource_id IN ");
            push_ids(&mut qb, chunk);
            for row in qb.build().fetch_all(&mut *tx).await? {
                audit.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, true));
            }
        }
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT seq, resource_id, changes FROM audit_log WHERE redacted_at IS NULL \
             AND account_id = ",
        );
        qb.push_bind(account.as_str()).push(" AND (");
        for (i, form) in needles.number_forms().iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            let pattern = format!("%{form}%");
            qb.push("changes LIKE ")
                .push_bind(pattern.clone())
                .push(" OR resource_id LIKE ")
                .push_bind(pattern);
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *tx).await? {
            audit.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, false));
        }
        let mut redact: Vec<i64> = audit
            .iter()
            .filter(|(_, resource, changes, by_resource)| {
                if *by_resource {
                    needles.mentioned_in(changes)
                } else {
                    needles.names_number(changes)
                        || resource.as_deref().is_some_and(|r| needles.names_number(r))
                }
            })
            .map(|(seq, ..)| *seq)
            .collect();
        redact.sort_unstable();
        redact.dedup();
        counts.audit_entries = redact_entries(&mut tx, account.as_str(), &redact, now).await?;

        counts.recordings = recordings.len() as u64;
        // Exports under way see it and stop (`SubjectStore::erasures`).
        sqlx::query("UPDATE accounts SET erasures = erasures + 1 WHERE id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let record = AuditRecord {
            action: "data_subject.erased",
            resource_type: "data_subject",
            resource_id: None,
            changes: serde_json::to_value(counts).unwrap_or_default(),
        };
        insert_audit_about(
            &mut tx,
            &ring,
            account.as_str(),
            actor,
            now,
            &[record],
            phone.as_str(),
        )
        .await?;
        tx.commit().await?;
        Ok((Erasure { counts, recordings }, told, !canceled.is_empty()))
    }
}

/// Moves the number's do-not-call entry to its erased key (kept if the key has one already);
/// its source and reason stay unless they name the person. Answers the entries moved.
async fn rekey_dnc(
    conn: &mut DbConn,
    account: &AccountId,
    phone: &PhoneNumber,
    key: &str,
    needles: &Needles,
) -> Result<u64, StoreError> {
    let row: Option<(Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT source, reason, created_at FROM dnc_entries WHERE account_id = $1 AND phone = $2",
    )
    .bind(account.as_str())
    .bind(phone.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((source, reason, created_at)) = row else {
        return Ok(0);
    };
    let keep = |text: Option<String>| text.filter(|t| !needles.mentioned_in(t));
    sqlx::query(
        "INSERT INTO dnc_entries (account_id, phone, source, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, phone) DO NOTHING",
    )
    .bind(account.as_str())
    .bind(key)
    .bind(keep(source))
    .bind(keep(reason))
    .bind(created_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM dnc_entries WHERE account_id = $1 AND phone = $2")
        .bind(account.as_str())
        .bind(phone.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(1)
}

/// Moves the number's consents to its erased key, scope by scope (the later word on a scope
/// wins), without their evidence. Answers the consents moved.
async fn rekey_consents(
    conn: &mut DbConn,
    account: &AccountId,
    phone: &PhoneNumber,
    key: &str,
) -> Result<u64, StoreError> {
    let moved = sqlx::query(
        "INSERT INTO consents (account_id, phone, scope, granted, source, captured_at, \
         evidence, updated_at) \
         SELECT account_id, $1, scope, granted, source, captured_at, NULL, updated_at \
         FROM consents WHERE account_id = $2 AND phone = $3 \
         ON CONFLICT (account_id, phone, scope) DO UPDATE SET granted = excluded.granted, \
         source = excluded.source, captured_at = excluded.captured_at, evidence = NULL, \
         updated_at = excluded.updated_at WHERE excluded.updated_at >= consents.updated_at",
    )
    .bind(key)
    .bind(account.as_str())
    .bind(phone.as_str())
    .execute(&mut *conn)
    .await?;
    let _ = moved;
    Ok(
        sqlx::query("DELETE FROM consents WHERE account_id = $1 AND phone = $2")
            .bind(account.as_str())
            .bind(phone.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

#[async_trait::async_trait]
impl SubjectStore for SqlStore {
    async fn subject_data(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<SubjectData, StoreError> {
        // One transaction: the document is one snapshot, and its audit entry is written with
        // it.
        let ring = self.ring();
        let mut tx = self.begin_write().await?;
        let subject = subject_of(&mut tx, &ring, account.as_str(), phone.as_str()).await?;
        let masked = masked_phone(&subject);
        let key = erased_key(&subject);
        let mut data = SubjectData {
            contacts: contacts_where(&mut tx, account, "phone", &[phone.as_str()]).await?,
            ..Default::default()
        };
        let rows = sqlx::query(&format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE account_id = $1 \
             AND phone IN ($2, $3) ORDER BY id"
        ))
        .bind(account.as_str())
        .bind(phone.as_str())
        .bind(&masked)
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let cb = callback_from_row(row)?;
            let attempts = attempts_on(&mut tx, account, &cb.id).await?;
            let history = history_on(&mut tx, account, &cb.id).await?;
            ids.push(cb.id.as_str().to_owned());
            data.callbacks.push((cb, attempts, history));
        }
        data.consents =
            super::consents::consents_on(&mut tx, account, &[phone.as_str(), &key]).await?;
        data.dnc = super::dnc::fetch_dnc(&mut tx, &ring, account, phone).await?;
        for chunk in ids.chunks(CHUNK) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT id, callback_id, kind, channel, due_at FROM notification_outbox \
                 WHERE account_id = ",
            );
            qb.push_bind(account.as_str()).push(" AND callback_id IN ");
            push_ids(&mut qb, chunk);
            qb.push(" ORDER BY due_at, id");
            for (id, callback_id, kind, channel, due_at) in qb
                .build_query_as::<(String, String, String, String, i64)>()
                .fetch_all(&mut *tx)
                .await?
            {
                data.messages.push(PendingMessage {
                    id,
                    callback_id,
                    kind,
                    channel,
                    due_at: ts(due_at)?,
                });
            }
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT callback_id, number, recording_ref FROM calls \
                 WHERE recording_ref IS NOT NULL AND account_id = ",
            );
            qb.push_bind(account.as_str()).push(" AND callback_id IN ");
            push_ids(&mut qb, chunk);
            qb.push(" ORDER BY callback_id, number");
            for (callback_id, number, file) in qb
                .build_query_as::<(String, i64, String)>()
                .fetch_all(&mut *tx)
                .await?
            {
                data.recordings.push(SubjectRecording {
                    callback_id,
                    attempt: number as u32,
                    file,
                });
            }
        }
        let mut resources = ids.clone();
        resources.extend(data.contacts.iter().map(|c| c.id.as_str().to_owned()));
        data.audit = audit_about(&mut tx, account, &subject, &resources).await?;
        insert_audit_about(
            &mut tx,
            &ring,
            account.as_str(),
            actor,
            now,
            &[AuditRecord {
                action: "data_subject.exported",
                resource_type: "data_subject",
                resource_id: None,
                changes: serde_json::json!({
                    "contacts": data.contacts.len(),
                    "callbacks": data.callbacks.len(),
                }),
            }],
            phone.as_str(),
        )
        .await?;
        tx.commit().await?;
        Ok(data)
    }

    async fn erase_subject(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Erasure, StoreError> {
        let erased = self
            .erase_in_one_transaction(account, phone, now, actor)
            .await;
        // Whether or not it committed: the writer's setting is put back, and what the WAL
        // still holds of the erased rows is checkpointed away.
        erasure_done(&self.writer).await;
        let (erasure, told, any_canceled) = erased?;
        self.events.notify();
        if any_canceled {
            self.routing.notify();
            self.agent_feed.raise(told.iter().map(String::as_str));
        }
        Ok(erasure)
    }

    async fn erasures(&self, account: &AccountId) -> Result<u64, StoreError> {
        let n: Option<i64> = sqlx::query_scalar("SELECT erasures FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }
}

/// The account's audit entries about the subject (its hash) or about `resources`, oldest
/// first.
async fn audit_about(
    conn: &mut DbConn,
    account: &AccountId,
    subject: &str,
    resources: &[String],
) -> Result<Vec<ChainedEntry>, StoreError> {
    const COLUMNS: &str = CHAINED_COLUMNS;
    let mut rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE account_id = $1 AND subject_hash = $2"
    ))
    .bind(account.as_str())
    .bind(subject)
    .fetch_all(&mut *conn)
    .await?;
    for chunk in resources.chunks(CHUNK) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE subject_hash IS NULL AND account_id = "
        ));
        qb.push_bind(account.as_str()).push(" AND resource_id IN ");
        push_ids(&mut qb, chunk);
        rows.extend(qb.build().fetch_all(&mut *conn).await?);
    }
    let mut entries = rows
        .iter()
        .map(chained_entry_of)
        .collect::<Result<Vec<_>, StoreError>>()?;
    entries.sort_by_key(|e| e.seq);
    entries.dedup_by_key(|e| e.seq);
    Ok(entries)
}
