//! The database a test's server runs on: a fresh SQLite file, or a fresh PostgreSQL database
//! when the suite runs as `api_postgres`.
//!
//! PostgreSQL is found at `RINGBACK_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, the database used only to create and drop the
//! tests' own). If it cannot be reached, every PostgreSQL test fails with a message saying so:
//! they never pass without having run.
//!
//! A PostgreSQL database is copied from a template this test process migrated once
//! (`rbt_<pid>_tpl`): a copy takes about a tenth of a second, creating and migrating one about
//! half a second, and the suite makes hundreds. [`TestDatabase::create_empty`] gives an
//! unmigrated one to the tests that build an older schema themselves.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
};

use ringback::store::Backend;
use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Databases this test process made are named `rbt_<pid>_<n>`.
const PREFIX: &str = "rbt_";

/// A database for one test, dropped with it.
pub struct TestDatabase {
    pub url: String,
    /// The key file of the database's secrets (`--secret-key-file`) on PostgreSQL, which has
    /// no default; `None` on SQLite, whose key file is beside the database file.
    pub key_file: Option<PathBuf>,
    postgres_name: Option<String>,
}

impl TestDatabase {
    /// A new, empty database of the suite's backend (`crate::BACKEND`); SQLite's file goes in
    /// `dir`.
    #[allow(dead_code, reason = "the store suite names the backend of each test")]
    pub async fn create(dir: &Path) -> Self {
        Self::create_for(crate::BACKEND, dir).await
    }

    /// A new database of `backend` with the current schema (on SQLite, a file in `dir` the
    /// server creates and migrates at start).
    pub async fn create_for(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(dir),
            Backend::Postgres => Self::create_postgres(Some(migrated_template().await)).await,
        }
    }

    /// A new database of the suite's backend without any schema.
    #[allow(dead_code, reason = "used by the tests that build an older schema")]
    pub async fn create_empty(dir: &Path) -> Self {
        match crate::BACKEND {
            Backend::Sqlite => Self::sqlite(dir),
            Backend::Postgres => Self::create_postgres(None).await,
        }
    }

    fn sqlite(dir: &Path) -> Self {
        Self {
            url: format!("sqlite://{}/rb.db", dir.display()),
            key_file: None,
            postgres_name: None,
        }
    }

    /// `RINGBACK_SECRET_KEY_FILE` for a `ringback` process on this database (none on SQLite):
    /// `Command::envs(db.key_env())`.
    #[allow(dead_code, reason = "used by the tests that run the binary")]
    pub fn key_env(&self) -> Option<(&'static str, PathBuf)> {
        self.key_file
            .clone()
            .map(|path| ("RINGBACK_SECRET_KEY_FILE", path))
    }

    async fn create_postgres(template: Option<&str>) -> Self {
        static SWEPT: AtomicBool = AtomicBool::new(false);
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = admin_url();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) => panic!(
                "\n\n!!! PostgreSQL NOT REACHABLE at {admin_url}: {e}\n\
                 !!! The PostgreSQL conformance suite (api_postgres) cannot run.\n\
                 !!! Start PostgreSQL (.ci/run does) or set RINGBACK_TEST_POSTGRES_URL.\n\n"
            ),
        };
        if !SWEPT.swap(true, Ordering::Relaxed) {
            drop_stale_databases(&mut admin).await;
        }
        let name = format!(
            "{PREFIX}{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let from = template.map_or(String::new(), |t| format!(" TEMPLATE {t}"));
        admin
            .execute(format!("CREATE DATABASE {name}{from}").as_str())
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let url = database_url(&name);
        Self {
            key_file: key_file_of(&url),
            url,
            postgres_name: Some(name),
        }
    }
}

impl TestDatabase {
    /// The PostgreSQL database's name (`None` on SQLite).
    #[allow(dead_code, reason = "used by the cluster tests only")]
    pub fn name(&self) -> Option<&str> {
        self.postgres_name.as_deref()
    }

    /// The URL of the database the tests' databases are created from.
    #[allow(dead_code, reason = "used by the cluster tests only")]
    pub fn admin_url(&self) -> String {
        admin_url()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(key) = &self.key_file {
            let _ = std::fs::remove_file(key);
        }
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Dropped from a plain thread: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// The key file of the secrets of the test database at `url`: on PostgreSQL, which has no
/// default, one per database in the temp folder; none on SQLite (beside the database file).
pub fn key_file_of(url: &str) -> Option<PathBuf> {
    let name = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?
        .rsplit('/')
        .next()?;
    Some(std::env::temp_dir().join(format!("{name}.key")))
}

/// `RINGBACK_SECRET_KEY_FILE` for a `ringback` process on the test database at `url` (none
/// on SQLite): `Command::envs(key_env_of(url))`.
#[allow(dead_code, reason = "used by the tests that run the binary")]
pub fn key_env_of(url: &str) -> Option<(&'static str, PathBuf)> {
    key_file_of(url).map(|path| ("RINGBACK_SECRET_KEY_FILE", path))
}

/// The URL of database `name` on the tests' PostgreSQL.
fn database_url(name: &str) -> String {
    let admin_url = admin_url();
    match admin_url.rfind('/') {
        Some(slash) => format!("{}/{name}", &admin_url[..slash]),
        None => panic!("RINGBACK_TEST_POSTGRES_URL has no database: {admin_url}"),
    }
}

/// This process's template database, made and migrated on first use; the next run's sweep
/// drops it once this process is gone.
async fn migrated_template() -> &'static str {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let db = TestDatabase::create_postgres(None).await;
            let mut conn = PgConnection::connect(&db.url)
                .await
                .unwrap_or_else(|e| panic!("connecting to the template database: {e}"));
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
            sqlx::migrate::Migrator::new(dir)
                .await
                .expect("the migrations can be read")
                .run(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("migrating the template database: {e}"));
            conn.close().await.expect("closing the template connection");
            let mut db = db;
            // Kept for the life of the process: copies are made from it.
            db.postgres_name.take().expect("a PostgreSQL database")
        })
        .await
}

fn admin_url() -> String {
    std::env::var("RINGBACK_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// Drops the test databases of processes that are gone (a run that was killed).
async fn drop_stale_databases(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'rbt\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}

/// Builds the schema as it was before migration `version` on `url` and runs `seed` on it.
#[allow(dead_code, reason = "used by the tests that build an older schema")]
pub async fn schema_before(url: &str, version: i64, seed: &str) {
    let dir = match crate::BACKEND {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let mut migrator =
        sqlx::migrate::Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .await
            .unwrap();
    let before: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    migrator.migrations = before.into();
    match crate::BACKEND {
        Backend::Sqlite => {
            let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
                .unwrap()
                .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            migrator.run(&mut conn).await.unwrap();
            sqlx::raw_sql(seed).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(url).await.unwrap();
            migrator.run(&mut conn).await.unwrap();
            sqlx::raw_sql(seed).execute(&mut conn).await.unwrap();
            // Rows seeded with their own numbers leave identity sequences behind them.
            let identities: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND is_identity = 'YES'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for (table, column) in identities {
                let sequence: String = sqlx::query_scalar(&format!(
                    "SELECT pg_get_serial_sequence('{table}', '{column}')"
                ))
                .fetch_one(&mut conn)
                .await
                .unwrap();
                // Rows inserted with their own numbers: the sequence goes on past them (it
                // is left alone where it is ahead already).
                sqlx::query(&format!(
                    "SELECT setval('{sequence}', m) FROM (SELECT MAX({column}) AS m FROM {table}) t \
                     WHERE m > (SELECT CASE WHEN is_called THEN last_value ELSE 0 END \
                     FROM {sequence})"
                ))
                .execute(&mut conn)
                .await
                .unwrap();
            }
            conn.close().await.unwrap();
        }
    }
}
