//! The `ringback` binary: a thin command line over the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ringback::{
    admin,
    app::Application,
    config::{DatabaseConfig, ServeConfig},
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
    Serve(ServeConfig),
    /// Bring the database schema up to date, then exit.
    Migrate(DatabaseConfig),
    /// Manage accounts (tenants).
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            telemetry::init_logs(cli.log_json);
            serve(config).await
        }
        Command::Migrate(db) => {
            telemetry::init_logs(cli.log_json);
            store::open(&db.database_url)
                .await
                .with_context(|| format!("migrating {}", store::redact_url(&db.database_url)))?;
            tracing::info!(database = %store::redact_url(&db.database_url), "schema is up to date");
            Ok(())
        }
        Command::Accounts {
            command:
                AccountsCommand::Create {
                    name,
                    json,
                    database,
                },
        } => {
            let store = store::open(&database.database_url)
                .await
                .context("opening the store")?;
            let (account, secret) =
                admin::create_account(store.as_ref(), &name, jiff::Timestamp::now()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "account_id": account.id.as_str(), "api_key": secret.expose() })
                );
            } else {
                println!("account_id: {}", account.id);
                println!("api_key:    {}", secret.expose());
                println!(
                    "Keep the key now: it is stored only as a hash and cannot be shown again."
                );
            }
            Ok(())
        }
    }
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
