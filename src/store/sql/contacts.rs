//! The SQL of contacts.

use std::sync::LazyLock;

use super::{Db, DbConn, DbRow};
use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    Cell, SqlStore, audit::insert_audit, corrupt, insert_rows, ms, opt_ts, plan_for_values, ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, ErrorCode, FieldError, PhoneNumber, Zone,
    contact::{Contact, ContactDetails, ContactPatch},
    ids::ContactId,
};
use crate::store::{
    StoreError,
    contacts::{ContactFilter, ContactStore, Upserted},
};

/// Every column of `contacts`, the text fields in [`ContactDetails::NAMES`] order.
static CONTACT_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "id, account_id, phone, external_id, {}, timezone, custom_fields, phone_invalid_at, \
         created_at, updated_at",
        ContactDetails::NAMES.join(", ")
    )
});

fn contact_from_row(r: &DbRow) -> Result<Contact, StoreError> {
    let mut patch = ContactPatch::default();
    for name in ContactDetails::NAMES {
        let value: Option<String> = r.try_get(*name)?;
        patch.details.push((*name, value));
    }
    let zone: Option<String> = r.try_get("timezone")?;
    let custom: String = r.try_get("custom_fields")?;
    let created_at = ts(r.try_get("created_at")?)?;
    let mut contact = Contact {
        id: ContactId::from_trusted(r.try_get("id")?),
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        phone: PhoneNumber::from_trusted(r.try_get("phone")?),
        external_id: r.try_get("external_id")?,
        details: ContactDetails::default(),
        timezone: zone
            .map(|z| Zone::parse(&z, "timezone").map_err(|_| corrupt("timezone", &z)))
            .transpose()?,
        custom_fields: serde_json::from_str(&custom)
            .map_err(|_| corrupt("custom_fields", &custom))?,
        phone_invalid_at: opt_ts(r.try_get("phone_invalid_at")?)?,
        created_at,
        updated_at: created_at,
    };
    // The stored values were validated when written; `apply` only copies them into place.
    contact
        .apply(&patch, ts(r.try_get("updated_at")?)?, "")
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(contact)
}

/// Inserts new contacts through the backend's `insert_rows` (a few hundred rows per statement
/// on SQLite, one statement on PostgreSQL).
async fn insert_contacts(conn: &mut DbConn, rows: &[Contact]) -> Result<(), StoreError> {
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|c| {
            let mut row: Vec<Cell> = vec![
                c.id.as_str().into(),
                c.account_id.as_str().into(),
                c.phone.as_str().into(),
                c.external_id.clone().into(),
            ];
            row.extend(
                ContactDetails::NAMES
                    .iter()
                    .map(|name| c.details.get(name).into()),
            );
            row.extend([
                c.timezone.as_ref().map(Zone::name).into(),
                serde_json::to_string(&c.custom_fields)
                    .unwrap_or_else(|_| "{}".into())
                    .into(),
                c.phone_invalid_at.map(ms).into(),
                ms(c.created_at).into(),
                ms(c.updated_at).into(),
            ]);
            row
        })
        .collect();
    insert_rows(conn, "contacts", &CONTACT_COLUMNS, &cells).await
}

async fn write_contact(conn: &mut DbConn, c: &Contact, insert: bool) -> Result<bool, StoreError> {
    if insert {
        insert_contacts(conn, std::slice::from_ref(c)).await?;
        return Ok(true);
    }
    let custom = serde_json::to_string(&c.custom_fields).unwrap_or_else(|_| "{}".into());
    let mut qb: QueryBuilder<Db> = QueryBuilder::new("UPDATE contacts SET ");
    let mut set = qb.separated(", ");
    set.push("external_id = ")
        .push_bind_unseparated(c.external_id.as_deref());
    for name in ContactDetails::NAMES {
        set.push(format!("{name} = "))
            .push_bind_unseparated(c.details.get(name));
    }
    set.push("timezone = ")
        .push_bind_unseparated(c.timezone.as_ref().map(Zone::name));
    set.push("custom_fields = ")
        .push_bind_unseparated(custom.as_str());
    set.push("updated_at = ")
        .push_bind_unseparated(ms(c.updated_at));
    qb.push(" WHERE id = ")
        .push_bind(c.id.as_str())
        .push(" AND account_id = ")
        .push_bind(c.account_id.as_str());
    let done = qb.build().execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

/// The error of an `external_id` that another contact (`owner`) of the account has.
fn external_id_taken(external_id: &str, owner: &ContactId) -> FieldError {
    FieldError::new(
        ErrorCode::DuplicateExternalId,
        "external_id",
        format!("{external_id:?} is already the external_id of contact {owner}"),
    )
}

/// The account's contact other than `except` whose `external_id` this is.
async fn external_id_owner(
    conn: &mut DbConn,
    account: &AccountId,
    external_id: &str,
    except: &ContactId,
) -> Result<Option<ContactId>, StoreError> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM contacts WHERE account_id = $1 AND external_id = $2 AND id <> $3",
    )
    .bind(account.as_str())
    .bind(external_id)
    .bind(except.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id.map(ContactId::from_trusted))
}

/// The audit record of a change to a contact. It names the fields changed, never their values:
/// the audit trail is append-only, and a contact's personal data must be erasable.
fn contact_audit(action: &'static str, id: &str, fields: &[String]) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "contact",
        resource_id: Some(id.to_owned()),
        changes: serde_json::json!({ "fields": fields }),
    }
}

/// One audit entry for a request that created or updated several contacts (a campaign's, an
/// import's): which were created and which updated, by id. One entry per contact made a
/// 100,000-contact campaign write 100,000 audit rows.
fn bulk_audit(results: &[Result<Upserted, FieldError>]) -> AuditRecord {
    let (mut created, mut updated) = (Vec::new(), Vec::new());
    for upserted in results.iter().flatten() {
        match upserted {
            Upserted::Created(c) => created.push(c.id.as_str()),
            Upserted::Updated(c) => updated.push(c.id.as_str()),
        }
    }
    AuditRecord {
        action: "contacts.upsert",
        resource_type: "contact",
        resource_id: None,
        changes: serde_json::json!({ "created": created, "updated": updated }),
    }
}

/// The account's contacts whose `column` (`id` or `phone`) is one of `values`, in no particular
/// order.
pub(super) async fn contacts_where(
    conn: &mut DbConn,
    account: &AccountId,
    column: &'static str,
    values: &[&str],
) -> Result<Vec<Contact>, StoreError> {
    let mut out = Vec::with_capacity(values.len());
    for chunk in values.chunks(500) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {} FROM contacts WHERE account_id = ",
            *CONTACT_COLUMNS
        ));
        qb.push_bind(account.as_str())
            .push(format!(" AND {column} IN ("));
        let mut sep = qb.separated(", ");
        for value in chunk {
            sep.push_bind(*value);
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await? {
            out.push(contact_from_row(&row)?);
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl ContactStore for SqlStore {
    async fn upsert_contacts(
        &self,
        account: &AccountId,
        patches: &[ContactPatch],
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Vec<Result<Upserted, FieldError>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(patches.len());
        let mut records = Vec::with_capacity(patches.len());
        // The contacts the patches name, read a few hundred at a time; then kept up to date
        // here, so a phone named twice in one call is created once and then updated.
        let mut known: std::collections::HashMap<String, Contact> =
            std::collections::HashMap::new();
        let phones: Vec<&str> = patches
            .iter()
            .filter_map(|p| p.phone.as_ref().map(|p| p.as_str()))
            .collect();
        plan_for_values(&mut tx).await?;
        for chunk in phones.chunks(500) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT {} FROM contacts WHERE account_id = ",
                *CONTACT_COLUMNS
            ));
            qb.push_bind(account.as_str()).push(" AND phone IN (");
            let mut sep = qb.separated(", ");
            for phone in chunk {
                sep.push_bind(*phone);
            }
            qb.push(")");
            for row in qb.build().fetch_all(&mut *tx).await? {
                let contact = contact_from_row(&row)?;
                known.insert(contact.phone.as_str().to_owned(), contact);
            }
        }
        // Who holds each external id the patches name (or a contact they touch has): a patch
        // may not give one contact another's; kept up to date as the patches apply.
        let named: Vec<&str> = patches
            .iter()
            .filter_map(|p| p.external_id.as_ref()?.as_deref())
            .collect();
        let mut owners: std::collections::HashMap<String, (ContactId, String)> = known
            .values()
            .chain(&contacts_where(&mut tx, account, "external_id", &named).await?)
            .filter_map(|c| {
                let owner = (c.id.clone(), c.phone.as_str().to_owned());
                Some((c.external_id.clone()?, owner))
            })
            .collect();
        // New contacts are inserted together at the end; a later patch for the same phone
        // changes the pending row.
        let mut new_rows: Vec<Contact> = Vec::new();
        let mut pending: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        for patch in patches {
            let Some(phone) = &patch.phone else {
                out.push(Err(FieldError::new(
                    crate::domain::ErrorCode::MissingField,
                    "phone",
                    "\"phone\" is required",
                )));
                continue;
            };
            if let Some(Some(wanted)) = &patch.external_id
                && let Some((owner, owner_phone)) = owners.get(wanted)
                && owner_phone != phone.as_str()
            {
                out.push(Err(external_id_taken(wanted, owner)));
                continue;
            }
            let held = known
                .get(phone.as_str())
                .and_then(|c| c.external_id.clone());
            let result = match known.get(phone.as_str()).cloned() {
                Some(mut contact) => match contact.apply(patch, now, "") {
                    Ok(()) => {
                        match pending.get(phone.as_str()) {
                            Some(&i) => new_rows[i] = contact.clone(),
                            None => {
                                write_contact(&mut tx, &contact, false).await?;
                            }
                        }
                        records.push(contact_audit(
                            "contact.update",
                            contact.id.as_str(),
                            &patch.touched(),
                        ));
                        known.insert(phone.as_str().to_owned(), contact.clone());
                        Ok(Upserted::Updated(contact))
                    }
                    Err(e) => Err(e),
                },
                None => match Contact::create(account.clone(), patch, now, "") {
                    Ok(contact) => {
                        pending.insert(phone.as_str().to_owned(), new_rows.len());
                        new_rows.push(contact.clone());
                        records.push(contact_audit(
                            "contact.create",
                            contact.id.as_str(),
                            &patch.touched(),
                        ));
                        known.insert(phone.as_str().to_owned(), contact.clone());
                        Ok(Upserted::Created(contact))
                    }
                    Err(e) => Err(e),
                },
            };
            if let Ok(upserted) = &result {
                let c = upserted.contact();
                if let Some(old) = held.filter(|old| c.external_id.as_ref() != Some(old)) {
                    owners.remove(&old);
                }
                if let Some(new) = &c.external_id {
                    owners.insert(new.clone(), (c.id.clone(), c.phone.as_str().to_owned()));
                }
            }
            out.push(result);
        }
        insert_contacts(&mut tx, &new_rows).await?;
        let audit = match records.len() {
            0 | 1 => records,
            _ => vec![bulk_audit(&out)],
        };
        insert_audit(&mut tx, account.as_str(), actor, now, &audit).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn list_contacts(
        &self,
        account: &AccountId,
        filter: &ContactFilter,
    ) -> Result<Vec<Contact>, StoreError> {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {} FROM contacts WHERE account_id = ",
            *CONTACT_COLUMNS
        ));
        qb.push_bind(account.as_str().to_owned());
        if let Some(phone) = &filter.phone {
            qb.push(" AND phone = ")
                .push_bind(phone.as_str().to_owned());
        }
        if let Some(before) = &filter.before {
            qb.push(" AND id < ").push_bind(before.as_str().to_owned());
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(contact_from_row).collect()
    }

    async fn get_contact(
        &self,
        account: &AccountId,
        id: &ContactId,
    ) -> Result<Option<Contact>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM contacts WHERE id = $1 AND account_id = $2",
            *CONTACT_COLUMNS
        ))
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn get_contacts(
        &self,
        account: &AccountId,
        ids: &[ContactId],
    ) -> Result<Vec<Contact>, StoreError> {
        let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        let mut conn = self.reader.acquire().await?;
        contacts_where(&mut conn, account, "id", &ids).await
    }

    async fn contact_by_external_id(
        &self,
        account: &AccountId,
        external_id: &str,
    ) -> Result<Option<Contact>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        Ok(
            contacts_where(&mut conn, account, "external_id", &[external_id])
                .await?
                .pop(),
        )
    }

    async fn update_contact(
        &self,
        contact: &Contact,
        changed: &[String],
        actor: &Actor,
    ) -> Result<Result<bool, FieldError>, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(external_id) = &contact.external_id
            && let Some(owner) =
                external_id_owner(&mut tx, &contact.account_id, external_id, &contact.id).await?
        {
            return Ok(Err(external_id_taken(external_id, &owner)));
        }
        if !write_contact(&mut tx, contact, false).await? {
            return Ok(Ok(false));
        }
        let record = contact_audit("contact.update", contact.id.as_str(), changed);
        insert_audit(
            &mut tx,
            contact.account_id.as_str(),
            actor,
            contact.updated_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(true))
    }

    async fn delete_contact(
        &self,
        account: &AccountId,
        id: &ContactId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM contacts WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let deleted = done.rows_affected() == 1;
        if deleted {
            let record = contact_audit("contact.delete", id.as_str(), &[]);
            insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
