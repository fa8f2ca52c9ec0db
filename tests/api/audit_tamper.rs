//! `ringback audit verify` on the real binary: a database whose audit log was edited, had an
//! entry deleted or two entries reordered, directly in the file (its append-only triggers
//! dropped first, as someone with the file could), is reported broken at the entry changed,
//! and an untouched copy verifies. SQLite only: the test edits the file.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

use crate::{audit_chain::sealed_evidence, helpers::*};

const BIN: &str = env!("CARGO_BIN_EXE_ringback");

/// `ringback audit verify` on the SQLite file `db`, a copy of the database whose secrets the
/// key file `key` encrypts: its exit status and one report per chain.
async fn verify(db: &Path, key: &Path) -> (bool, Vec<Value>) {
    let out = tokio::process::Command::new(BIN)
        .args([
            "audit",
            "verify",
            "--database-url",
            &format!("sqlite://{}", db.display()),
            "--secret-key-file",
            key.to_str().unwrap(),
        ])
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("ringback runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reports = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    (out.status.success(), reports)
}

/// A copy of the live database (`VACUUM INTO`: one consistent snapshot) at `to`.
async fn copy_of(live: &Path, to: PathBuf) -> PathBuf {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", live.display()))
        .await
        .unwrap();
    sqlx::query("VACUUM INTO ?")
        .bind(to.to_str().unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    to
}

/// Runs `statements` on the file `db` as someone with the file would: triggers dropped first.
async fn tamper(db: &Path, statements: &[String]) {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    for sql in [
        "DROP TRIGGER audit_log_no_update",
        "DROP TRIGGER audit_log_no_delete",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(statements.iter().cloned())
    {
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
    }
}

/// The `seq` of the account's entry at `index` in its chain.
async fn seq_at(db: &Path, account: &str, index: i64) -> i64 {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query_scalar("SELECT seq FROM audit_log WHERE account_id = ? AND chain_index = ?")
        .bind(account)
        .bind(index)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// The account's chain head as the file `db` records it (later copies may hold entries sealed
/// since an earlier one was taken: every export of the evidence writes one).
async fn head_of(db: &Path, account: &str) -> i64 {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query_scalar("SELECT head_index FROM audit_chains WHERE account_id = ?")
        .bind(account)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

fn broken_at<'a>(reports: &'a [Value], account: &str) -> &'a Value {
    let report = reports
        .iter()
        .find(|r| r["account_id"] == account)
        .unwrap_or_else(|| panic!("no report for {account}: {reports:?}"));
    assert_eq!(report["status"], "broken", "{report}");
    &report["broken_at"]
}

#[tokio::test]
async fn audit_verify_names_an_edited_a_deleted_and_a_reordered_entry() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    // Entries: settings, three callbacks created and their attempts.
    let phone = "+14155550146";
    for _ in 0..3 {
        let id = app
            .post_json(
                "/v1/callbacks",
                &json!({ "phone": phone, "scheduled_at": in_ms(200), "allow_duplicate": true }),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.wait_for_status(&id, "in_progress", WAIT).await;
    }
    let evidence = sealed_evidence(&app, phone, 3).await;
    let head = evidence["chain"]["head_index"].as_i64().unwrap();
    assert!(head >= 6, "{evidence}");
    let account = app.account_id.clone();
    let dir = tempfile::tempdir().unwrap();
    let live = PathBuf::from(app._db.url.trim_start_matches("sqlite://"));
    // The server's key file, beside its database.
    let key = PathBuf::from(format!("{}.key", live.display()));
    assert!(key.exists(), "{}", key.display());

    // Untouched: every chain verifies.
    let clean = copy_of(&live, dir.path().join("clean.db")).await;
    let (ok, reports) = verify(&clean, &key).await;
    assert!(ok, "{reports:?}");
    let mine = reports
        .iter()
        .find(|r| r["account_id"] == account.as_str())
        .unwrap();
    assert_eq!(mine["status"], "ok");
    assert_eq!(
        mine["verified"].as_i64(),
        Some(head_of(&clean, &account).await)
    );

    // An entry's content edited: named by its seq.
    let edited = copy_of(&live, dir.path().join("edited.db")).await;
    let seq = seq_at(&edited, &account, 3).await;
    tamper(
        &edited,
        &[format!("UPDATE audit_log SET changes = '{{\"status\":{{\"after\":\"canceled\"}}}}' WHERE seq = {seq}")],
    )
    .await;
    let (ok, reports) = verify(&edited, &key).await;
    assert!(!ok);
    let b = broken_at(&reports, &account);
    assert_eq!(
        (b["chain_index"].as_i64(), b["seq"].as_i64()),
        (Some(3), Some(seq)),
        "{b}"
    );
    assert_eq!(b["reason"], "content_altered");

    // An entry's actor edited, with its digest left alone: the hash no longer holds.
    let actor = copy_of(&live, dir.path().join("actor.db")).await;
    let seq = seq_at(&actor, &account, 2).await;
    tamper(
        &actor,
        &[format!(
            "UPDATE audit_log SET actor_id = 'someone_else' WHERE seq = {seq}"
        )],
    )
    .await;
    let (ok, reports) = verify(&actor, &key).await;
    assert!(!ok);
    let b = broken_at(&reports, &account);
    assert_eq!(
        (b["chain_index"].as_i64(), b["seq"].as_i64()),
        (Some(2), Some(seq)),
        "{b}"
    );
    assert_eq!(b["reason"], "hash_mismatch");

    // An entry deleted: the chain breaks at its place.
    let deleted = copy_of(&live, dir.path().join("deleted.db")).await;
    let seq = seq_at(&deleted, &account, 4).await;
    tamper(
        &deleted,
        &[format!("DELETE FROM audit_log WHERE seq = {seq}")],
    )
    .await;
    let (ok, reports) = verify(&deleted, &key).await;
    assert!(!ok);
    let b = broken_at(&reports, &account);
    assert_eq!(b["chain_index"].as_i64(), Some(4), "{b}");
    assert_eq!(b["reason"], "missing");

    // The last entry deleted: the head still counts it.
    let last = copy_of(&live, dir.path().join("last.db")).await;
    let head = head_of(&last, &account).await;
    let seq = seq_at(&last, &account, head).await;
    tamper(&last, &[format!("DELETE FROM audit_log WHERE seq = {seq}")]).await;
    let (ok, reports) = verify(&last, &key).await;
    assert!(!ok);
    assert_eq!(
        broken_at(&reports, &account)["chain_index"].as_i64(),
        Some(head)
    );

    // Two entries reordered (their places swapped): named at the first.
    let reordered = copy_of(&live, dir.path().join("reordered.db")).await;
    let (a, b) = (
        seq_at(&reordered, &account, 2).await,
        seq_at(&reordered, &account, 3).await,
    );
    tamper(
        &reordered,
        &[
            "DROP INDEX audit_log_chain".to_owned(),
            format!("UPDATE audit_log SET chain_index = 3 WHERE seq = {a}"),
            format!("UPDATE audit_log SET chain_index = 2 WHERE seq = {b}"),
        ],
    )
    .await;
    let (ok, reports) = verify(&reordered, &key).await;
    assert!(!ok);
    let broken = broken_at(&reports, &account);
    assert_eq!(broken["chain_index"].as_i64(), Some(2), "{broken}");
    assert_eq!(broken["seq"].as_i64(), Some(b), "{broken}");

    // The live database still verifies, and the triggers refuse the same edits.
    let (ok, reports) = verify(&live, &key).await;
    assert!(ok, "{reports:?}");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", live.display()))
        .await
        .unwrap();
    for sql in [
        "UPDATE audit_log SET changes = '{}' WHERE chain_index = 1".to_owned(),
        "UPDATE audit_log SET chain_index = 99 WHERE chain_index = 1".to_owned(),
        "DELETE FROM audit_log WHERE chain_index = 1".to_owned(),
    ] {
        let refused = sqlx::query(&sql).execute(&mut conn).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("append-only")),
            "{sql}"
        );
    }
}
