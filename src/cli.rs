//! Command-line syntax. Every subcommand takes the global `--data-dir` and `--config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Haechi: token authority, PII vault and audit trail around customers' personal data.
#[derive(Debug, Parser)]
#[command(name = "haechi", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory holding all state (database, key file, audit log).
    #[arg(long, global = true, env = "HAECHI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (default: ./haechi.toml when it exists).
    #[arg(long, global = true, env = "HAECHI_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP API.
    Serve(ServeArgs),
    /// Show the effective configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Signing-key custody.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Administrator credentials.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Service principals.
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Customer accounts.
    Customers {
        #[command(subcommand)]
        action: CustomersAction,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "HAECHI_LISTEN")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective configuration (file < environment < flags), secrets redacted.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// List signing keys and their states (never private material).
    List,
    /// Rotate now: the pending key signs, the active key retires.
    Rotate,
    /// Revoke a compromised key: every token it signed stops working at once.
    Revoke {
        /// The key id.
        kid: String,
    },
    /// Re-wrap every stored key under a new master key (no data is re-encrypted). Run with
    /// the server stopped; then start it with the new key.
    RotateMaster {
        /// File holding the new master key (64 hex digits or base64 of 32 bytes).
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Import the signing key of an existing identity provider (PKCS#8/SEC1 PEM or JWK).
    Import {
        /// File holding the private key.
        file: PathBuf,
        /// Keep it pending (published, not signing) instead of making it the active key.
        #[arg(long)]
        pending: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an administrator and print its one-time credential.
    Create {
        /// Name (a-z, 0-9, '-', '_').
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Create a service principal and print its one-time credential.
    Create {
        /// Name (a-z, 0-9, '-', '_').
        name: String,
        /// Purposes it may declare, comma-separated (e.g. shipping,support).
        #[arg(long, value_delimiter = ',', required = true)]
        purposes: Vec<String>,
    },
    /// List service principals and administrators.
    List,
}

#[derive(Debug, Subcommand)]
pub enum CustomersAction {
    /// Bulk import customers from JSON lines (one record per line, the shape of
    /// POST /v1/customers). Resumable: a rerun continues after the last committed batch.
    Import {
        /// The JSONL file.
        file: PathBuf,
        /// Lines per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Write realistic generated Korean customers as JSON lines (deterministic by seed).
    Generate {
        /// How many.
        #[arg(long)]
        count: u64,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Create a customer login account. The password is read from standard input.
    Create {
        /// E-mail to log in with.
        #[arg(long)]
        email: Option<String>,
        /// Phone to log in with.
        #[arg(long)]
        phone: Option<String>,
        /// Read the initial password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}
