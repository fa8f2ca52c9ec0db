//! The `ringback` binary: a thin command line over the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ringback::{
    admin,
    app::Application,
    config::{DatabaseConfig, ServeConfig},
    domain::{AccountId, Actor, ids::ApiKeyId},
    store, telemetry,
};

/// Ringback schedules customer callbacks and outbound calls, and makes sure each one happens
/// once, on time, in the customer's time zone.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "RINGBACK_LOG_JSON")]
    log_json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server and the scheduler (SQLite file ./ringback.db by default).
    Serve(Box<ServeConfig>),
    /// Bring the database schema up to date, then exit.
    Migrate(DatabaseConfig),
    /// Check an HTTP dialer bridge against the contract Ringback dispatches with: it answers
    /// 2xx, takes a repeated Idempotency-Key as the same call, refuses unsigned and mis-signed
    /// dispatches (with --secret) and reports the outcome. Exits 1 if a check fails.
    BridgeTest(BridgeTestArgs),
    /// Manage accounts (tenants).
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Manage an account's API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the people who sign in to the Callback Manager.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Copy the SQLite database into a new file while the server runs (a consistent snapshot,
    /// `VACUUM INTO`). For PostgreSQL, use pg_dump or point-in-time recovery (see the README).
    Backup(BackupArgs),
    /// Put a backup in place of the SQLite database after checking it, then bring its schema
    /// up to date. Stop the server using the database first. The server opening it needs the
    /// key file of the database the backup was taken from (--secret-key-file).
    Restore(RestoreArgs),
    /// The tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage the key that encrypts the secrets the database keeps (--secret-key-file).
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify each account's audit hash chain from its anchor to its head. Prints one JSON
    /// line per chain (`status`, `verified`, `head_hash`, and `broken_at` naming the first
    /// entry that does not hold: its chain index, its seq and why). Exits 1 if a chain is
    /// broken.
    Verify {
        /// Only this account's chain (acc_...).
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Make a new key, re-encrypt every secret under it in one transaction, and leave the key
    /// file holding the new key; print {"reencrypted", "key_id", "previous_key_id",
    /// "key_file"} as JSON. Stop the servers using the database first and start them after
    /// (PostgreSQL: give every node the new key file).
    RotateKey(DatabaseConfig),
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The new file to write; an existing file is never overwritten.
    #[arg(long)]
    to: std::path::PathBuf,
    #[command(flatten)]
    database: DatabaseConfig,
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// A file `ringback backup` wrote.
    #[arg(long)]
    from: std::path::PathBuf,
    /// Replace an existing database file (and its WAL).
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    database: DatabaseConfig,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user. The password is read from RINGBACK_USER_PASSWORD, else from the first
    /// line of standard input (10 to 256 characters).
    Create {
        /// The account the user belongs to (acc_...).
        #[arg(long)]
        account: String,
        /// The e-mail address they sign in with (unique across the server).
        #[arg(long)]
        email: String,
        /// supervisor (everything in the account) or agent (works as one agent).
        #[arg(long)]
        role: String,
        /// For agent users: the agent they work as (agt_...).
        #[arg(long)]
        agent: Option<String>,
        /// Print exactly {"user_id": "..."}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// List an account's users (never their passwords).
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it (shown only this once).
    Create {
        /// The account the key belongs to (acc_...).
        #[arg(long)]
        account: String,
        /// A name to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Comma-separated scopes: callbacks:read, callbacks:write, campaigns:read,
        /// campaigns:write, contacts:read, contacts:write, agents:read, agents:write,
        /// webhooks:write, admin.
        #[arg(long, value_delimiter = ',', default_value = "admin")]
        scopes: Vec<String>,
        /// Print exactly {"key_id": "...", "api_key": "..."}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// List an account's keys (never their secrets).
    List {
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Revoke a key; running servers refuse it at once (PostgreSQL: on the change's NOTIFY;
    /// SQLite: within 0.1 s).
    Revoke {
        /// The key id (key_...).
        key_id: String,
        #[arg(long)]
        account: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(clap::Args)]
struct BridgeTestArgs {
    /// The bridge's URL (an http_bridge trunk's url, or --dialer-url).
    url: url::Url,
    /// The account's signing secret (whsec_...), to check that the bridge verifies
    /// signatures; without it, that check is skipped.
    #[arg(long, env = "RINGBACK_SIGNING_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Where this command serves the outcome URL the bridge reports to.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// The outcome URL's base as the bridge reaches it (default: http://<listen>).
    #[arg(long)]
    public_url: Option<url::Url>,
    /// The number the test calls go to.
    #[arg(long, default_value = "+15005550006")]
    phone: String,
    /// How long the bridge has to report an outcome.
    #[arg(long, default_value_t = 60)]
    outcome_timeout_seconds: u64,
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create an account and print its id and a new API key (shown only this once).
    Create {
        /// A name for the account, e.g. the customer's company.
        name: String,
        /// Print exactly {"account_id": "...", "api_key": "..."}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

/// mimalloc instead of the system allocator: ingest allocates and frees many short-lived
/// values on both cores, and glibc's malloc spent a fifth of a campaign launch's CPU in its
/// own bookkeeping (`malloc_consolidate`, `_int_malloc`); see BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            telemetry::init_logs(cli.log_json);
            serve(*config).await
        }
        Command::Migrate(db) => {
            telemetry::init_logs(cli.log_json);
            store::open(&db)
                .await
                .with_context(|| format!("migrating {}", store::redact_url(&db.database_url)))?;
            tracing::info!(database = %store::redact_url(&db.database_url), "schema is up to date");
            Ok(())
        }
        Command::BridgeTest(args) => bridge_test(args).await,
        Command::Backup(args) => {
            let url = sqlite_only(&args.database, "backup")?;
            let copied = store::sqlite::backup(url, &args.to)
                .await
                .with_context(|| format!("backing up {url} to {}", args.to.display()))?;
            println!("{}", serde_json::to_string(&copied)?);
            Ok(())
        }
        Command::Restore(args) => {
            let url = sqlite_only(&args.database, "restore")?;
            let copied = store::sqlite::restore(&args.from, url, args.replace)
                .await
                .with_context(|| format!("restoring {} to {url}", args.from.display()))?;
            println!("{}", serde_json::to_string(&copied)?);
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { account, database },
        } => {
            let store = store::open(&database).await.context("opening the store")?;
            let reports = ringback::audit::verify_chains(store.as_ref(), account.as_deref())
                .await
                .context("reading the audit trail")?;
            for report in &reports {
                println!("{}", serde_json::to_string(report)?);
            }
            if reports.iter().any(|r| r.broken_at.is_some()) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Secrets {
            command: SecretsCommand::RotateKey(database),
        } => {
            let rotation = store::rotate_secret_key(&database, jiff::Timestamp::now())
                .await
                .with_context(|| {
                    format!(
                        "rotating the secret key of {}",
                        store::redact_url(&database.database_url)
                    )
                })?;
            println!("{}", serde_json::to_string(&rotation)?);
            Ok(())
        }
        Command::Keys { command } => keys(command).await,
        Command::Users { command } => users(command).await,
        Command::Accounts {
            command:
                AccountsCommand::Create {
                    name,
                    json,
                    database,
                },
        } => {
            let store = store::open(&database).await.context("opening the store")?;
            let (account, secret) =
                admin::create_account(store.as_ref(), &name, jiff::Timestamp::now()).await?;
            print_new_key(json, "account_id", account.id.as_str(), secret.expose());
            Ok(())
        }
    }
}

/// The database URL, if it names SQLite: backups of PostgreSQL are PostgreSQL's own.
fn sqlite_only<'a>(database: &'a DatabaseConfig, what: &str) -> anyhow::Result<&'a str> {
    let url = database.database_url.as_str();
    match store::Backend::of(url) {
        Some(store::Backend::Sqlite) => Ok(url),
        _ => anyhow::bail!(
            "ringback {what} copies a SQLite database; for PostgreSQL ({}) use pg_dump and \
             pg_restore, or point-in-time recovery (see the README)",
            store::redact_url(url)
        ),
    }
}

async fn bridge_test(args: BridgeTestArgs) -> anyhow::Result<()> {
    use ringback::dialer::bridge_test::{self, BridgeTest, Verdict};
    let secret = match &args.secret {
        None => None,
        Some(text) => Some(ringback::domain::SigningSecret::parse(text).context(
            "--secret is not a signing secret (whsec_ followed by 24 to 64 bytes in base64)",
        )?),
    };
    let test = BridgeTest {
        url: args.url,
        secret,
        listen: args.listen,
        public_url: args.public_url,
        phone: args.phone,
        outcome_timeout: std::time::Duration::from_secs(args.outcome_timeout_seconds),
    };
    println!("Checking the bridge at {}", test.url);
    let checks = bridge_test::run(&test, |check| println!("{check}"))
        .await
        .context("serving the outcome URL")?;
    let failed = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .count();
    if failed > 0 {
        println!("{failed} of {} checks failed", checks.len());
        std::process::exit(1);
    }
    println!("The bridge keeps the contract.");
    Ok(())
}

/// Prints a new API key, the only time it can be shown, beside the id of what was created
/// (`id_field`): as JSON, or as aligned lines with a warning to keep it.
fn print_new_key(json: bool, id_field: &str, id: &str, key: &str) {
    if json {
        println!("{}", serde_json::json!({ (id_field): id, "api_key": key }));
    } else {
        let width = id_field.len().max("api_key".len()) + 2;
        println!("{:width$}{id}", format!("{id_field}:"));
        println!("{:width$}{key}", "api_key:");
        println!("Keep the key now: it is stored only as a hash and cannot be shown again.");
    }
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let parse_account = |raw: &str| {
        AccountId::parse(raw).with_context(|| format!("{raw:?} is not an account id (acc_...)"))
    };
    match command {
        KeysCommand::Create {
            account,
            name,
            scopes,
            json,
            database,
        } => {
            let account = parse_account(&account)?;
            let store = store::open(&database).await?;
            let (key, secret) = admin::create_key(
                store.as_ref(),
                &account,
                &name,
                &scopes,
                jiff::Timestamp::now(),
            )
            .await?;
            print_new_key(json, "key_id", key.id.as_str(), secret.expose());
        }
        KeysCommand::List {
            account,
            json,
            database,
        } => {
            let account = parse_account(&account)?;
            let store = store::open(&database).await?;
            let keys = store.list_api_keys(&account).await?;
            if json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "key_id": k.id.as_str(), "name": k.name, "prefix": k.prefix,
                            "scopes": k.scopes, "created_at": k.created_at.to_string(),
                            "revoked_at": k.revoked_at.map(|t| t.to_string()),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for k in keys {
                    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                    let state = match k.revoked_at {
                        Some(at) => format!("revoked {at}"),
                        None => "active".to_owned(),
                    };
                    println!(
                        "{}  {}...  {:<12} {}  [{}]",
                        k.id,
                        k.prefix,
                        k.name,
                        state,
                        scopes.join(",")
                    );
                }
            }
        }
        KeysCommand::Revoke {
            key_id,
            account,
            database,
        } => {
            let account = parse_account(&account)?;
            let id = ApiKeyId::parse(&key_id)
                .with_context(|| format!("{key_id:?} is not a key id (key_...)"))?;
            let store = store::open(&database).await?;
            store
                .revoke_api_key(&account, &id, jiff::Timestamp::now(), &Actor::Cli)
                .await?
                .with_context(|| format!("account {account} has no key {key_id}"))?;
            println!("revoked {key_id}");
        }
    }
    Ok(())
}

async fn users(command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create {
            account,
            email,
            role,
            agent,
            json,
            database,
        } => {
            let account = AccountId::parse(&account)
                .with_context(|| format!("{account:?} is not an account id (acc_...)"))?;
            let password = match std::env::var("RINGBACK_USER_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let store = store::open(&database).await?;
            let user = admin::create_user(
                store.as_ref(),
                &account,
                &email,
                &role,
                agent.as_deref(),
                &secrecy::SecretString::from(password),
                &Actor::Cli,
                jiff::Timestamp::now(),
            )
            .await?;
            if json {
                println!("{}", serde_json::json!({ "user_id": user.id.as_str() }));
            } else {
                println!("user_id: {}", user.id);
                println!(
                    "{} can now sign in as {}.",
                    user.email.as_str(),
                    user.role.as_str()
                );
            }
        }
        UsersCommand::List { account, database } => {
            let account = AccountId::parse(&account)
                .with_context(|| format!("{account:?} is not an account id (acc_...)"))?;
            let store = store::open(&database).await?;
            for u in store.list_users(&account).await? {
                let agent = u.agent_id.as_ref().map_or("", |a| a.as_str());
                println!(
                    "{}  {:<10} {}  {}",
                    u.id,
                    u.role.as_str(),
                    u.email.as_str(),
                    agent
                );
            }
        }
    }
    Ok(())
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let database = store::redact_url(&config.database.database_url);
    let app = Application::build(config)
        .await
        .context("starting the server")?;
    let shutdown = app.shutdown_token();
    tracing::info!(address = %app.local_addr(), %database, "ringback listening");
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new claims, draining in-flight dispatches");
        shutdown.cancel();
    });
    app.run().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("can listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
