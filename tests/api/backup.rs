//! `ringback backup` and `ringback restore` on the real binary: a backup taken while callbacks
//! are being created restores to a database that opens, migrates and serves every callback
//! committed before the backup began; a damaged file, a file that is not Ringback's, and an
//! existing target without `--replace` are refused, the target untouched.

use std::{
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    helpers::*,
    restart::{Server, env},
};

const BIN: &str = env!("CARGO_BIN_EXE_ringback");

/// A batch's answer: when it came, and the ids it created.
type Answered = (Instant, Vec<String>);

async fn ringback(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("ringback runs")
}

/// `ringback backup --to FILE --database-url URL`.
async fn back_up(to: &Path, url: &str) -> std::process::Output {
    ringback(&[
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--database-url",
        url,
    ])
    .await
}

/// `ringback restore --from FILE --database-url URL`, with `--replace` if asked.
async fn restore_from(from: &Path, url: &str, replace: bool) -> std::process::Output {
    let mut args = vec![
        "restore",
        "--from",
        from.to_str().unwrap(),
        "--database-url",
        url,
    ];
    if replace {
        args.push("--replace");
    }
    ringback(&args).await
}

fn url_of(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_every_callback_committed_before_it_began() {
    let env = env().await;
    let server = Arc::new(Server::start(&env, &[]).await);
    // Creates go on all through the backup, 1,000 a second: a batch of 100 every 100 ms. Each
    // answered batch is noted with the instant its answer came.
    let acknowledged: Arc<Mutex<Vec<Answered>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (server, acknowledged, stop) = (server.clone(), acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let (at, phone) = (tomorrow(), unique_phone());
            let mut pace = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                pace.tick().await;
                let items: Vec<Value> = (0..100)
                    .map(|_| json!({ "phone": phone, "scheduled_at": at, "allow_duplicate": true }))
                    .collect();
                let resp = server
                    .send(
                        reqwest::Method::POST,
                        "/v1/callbacks/batch",
                        Some(&json!({ "callbacks": items })),
                    )
                    .await;
                let body = resp.expect(200).clone();
                let ids: Vec<String> = body["results"]
                    .as_array()
                    .expect("results")
                    .iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_owned))
                    .collect();
                assert_eq!(ids.len(), 100, "{body}");
                acknowledged.lock().unwrap().push((Instant::now(), ids));
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let began = Instant::now();
    let out = back_up(&backup, &env.database_url).await;
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let took = began.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();
    let before: Vec<String> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at < began)
        .flat_map(|(_, ids)| ids.clone())
        .collect();
    let total: usize = acknowledged
        .lock()
        .unwrap()
        .iter()
        .map(|(_, i)| i.len())
        .sum();
    eprintln!(
        "{} callbacks acknowledged before the backup began, {total} in all; the backup took \
         {took:?}",
        before.len()
    );
    assert!(
        before.len() >= 500,
        "load ran before the backup: {}",
        before.len()
    );
    assert!(total > before.len(), "load went on during the backup");
    let held = report["callbacks"].as_i64().unwrap() as usize;
    assert!(held >= before.len(), "{report}");
    // A snapshot: each batch was one transaction, so the copy holds whole batches only.
    assert_eq!(held % 100, 0, "a batch cut in two: {report}");

    // Restored to a new file, served by a new server: every callback committed before.
    let restored = dir.path().join("restored.db");
    let out = restore_from(&backup, &url_of(&restored), false).await;
    assert!(
        out.status.success(),
        "restore failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    // Its secrets are sealed with the key of the database the backup was taken from.
    let key = format!("{}.key", env.database_url.trim_start_matches("sqlite://"));
    let again = Server::start_on(&env, &url_of(&restored), &["--secret-key-file", &key]).await;
    for id in &before {
        let cb = again.get_callback(id).await;
        assert_eq!(cb["id"], id.as_str());
    }
}

#[tokio::test]
async fn a_restore_refuses_what_is_not_a_sound_backup_and_an_existing_target() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let out = back_up(&backup, &env.database_url).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A backup never overwrites a file.
    let out = back_up(&backup, &env.database_url).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));

    let target = dir.path().join("live.db");
    std::fs::write(&target, b"the live database").unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
    let foreign = dir.path().join("foreign.db");
    {
        let conn = sqlx::SqlitePool::connect(&format!("{}?mode=rwc", url_of(&foreign)))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&conn)
            .await
            .unwrap();
        conn.close().await;
    }
    for (from, replace, why) in [
        (&backup, false, "exists"),
        (&garbage, true, "not a SQLite database"),
        (&foreign, true, "not a Ringback database"),
    ] {
        let out = restore_from(from, &url_of(&target), replace).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{from:?} was restored");
        assert!(stderr.contains(why), "{from:?}: {stderr}");
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"the live database",
            "the target is untouched"
        );
    }
    // With --replace, the sound backup goes in and opens.
    let out = restore_from(&backup, &url_of(&target), true).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["migration"].as_i64().unwrap() > 0, "{report}");
    // PostgreSQL is pg_dump's.
    let out = back_up(
        &dir.path().join("pg.dump"),
        "postgres://postgres@127.0.0.1:5432/whatever",
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}
