//! Command-line syntax. Every subcommand takes the global `--data-dir` and `--config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// The audit trail: verify, export, search, and the auditor's public key.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Leak watch: match a leaked dump against the vault, scan text for personal data.
    Leak {
        #[command(subcommand)]
        action: crate::commands::leak::LeakAction,
    },
    /// Forensics: who was exposed, which fields, when — exactly, from the audit archive and
    /// the live log, with the notification list and a chain-of-custody block.
    Scope(crate::commands::scope::ScopeArgs),
    /// Audit archives for tests, benchmarks and drills (`archive generate`).
    Archive {
        #[command(subcommand)]
        action: crate::commands::archive_gen::ArchiveAction,
    },
    /// Detection: replay the rule pack over archives or the live log (`detect replay`), check
    /// rule files (`detect check`).
    Detect {
        #[command(subcommand)]
        action: crate::commands::detect::DetectAction,
    },
    /// Breach drills: the Coupang attack and its harder cousins replayed against a live
    /// server on a simulated clock, scored against what the attacker actually received.
    Drill(crate::commands::drill::DrillArgs),
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

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check every record, chain link and signed checkpoint of the log and its archives:
    /// exit 0 when all records verify, 1 naming each place a record was altered, removed,
    /// inserted or reordered. Reads only; safe while the server runs.
    Verify {
        /// A Parquet archive directory to check too (repeatable). Archives the log was
        /// exported to are found through its manifest.
        #[arg(long = "archive", value_name = "DIR")]
        archives: Vec<PathBuf>,
        /// The audit public key to check against (PEM, JWK or hex, as `audit public-key`
        /// prints it). Default: this data directory's key, which needs its master key.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The witness that received the log's signed checkpoints (`file:///PATH`, as in
        /// audit.witness; an http:// receiver's own file). A log that ends before the head
        /// the witness holds, or disagrees with it, is reported as tampering.
        #[arg(long, value_name = "URL")]
        witness: Option<String>,
    },
    /// Export sealed segments as Parquet, partitioned by day. Without --seal it only reads
    /// sealed segments, so it is safe while the server runs.
    Export {
        /// The archive directory (default: audit.archive_dir of the configuration).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Seal the active segment first, so everything recorded so far is exported. Opens
        /// the log for writing: needs the server stopped.
        #[arg(long)]
        seal: bool,
    },
    /// Records matching every condition given, oldest first, as JSON lines (the same filter
    /// as GET /v1/admin/audit). Reads only; safe while the server runs.
    Search {
        /// Events touching this customer's data.
        #[arg(long)]
        customer: Option<String>,
        /// Events by this principal (customer:ID, service:NAME, admin:NAME, anonymous).
        #[arg(long)]
        principal: Option<String>,
        /// Events from this address or network (203.0.113.7, 203.0.113.0/24).
        #[arg(long)]
        ip: Option<String>,
        /// At or after this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        from: Option<String>,
        /// Before this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        to: Option<String>,
        /// Only these kinds (pii.read, auth.login_failed, …; repeatable or comma-separated).
        #[arg(long)]
        kind: Vec<String>,
        /// Only records after this seq.
        #[arg(long)]
        after: Option<u64>,
        /// At most this many records (default: all).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
    },
    /// Delete sealed live-log segments that are already in the Parquet archive (read back and
    /// found identical) and wholly before --before / older than --older-than (default:
    /// audit.retention); a segment must meet every bound in force. Refuses, deleting nothing,
    /// if such a segment is not archived yet.
    /// Never touches the segment being written to. Needs the server stopped (the server prunes
    /// by itself when audit.retention is set).
    Prune {
        /// Only segments whose records all have a seq below this.
        #[arg(long, value_name = "SEQ")]
        before: Option<u64>,
        /// Only segments whose records are all older than this (`30d`, `12h`, …).
        #[arg(long, value_name = "AGE")]
        older_than: Option<humantime::Duration>,
        /// Check and report what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the audit public key, to hand to auditors (`audit verify --key`).
    PublicKey {
        /// Encoding.
        #[arg(long, value_enum, default_value_t = KeyFormat::Pem)]
        format: KeyFormat,
    },
}

/// How `audit public-key` prints the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyFormat {
    /// PEM (SubjectPublicKeyInfo).
    Pem,
    /// A JSON Web Key (`{"kty":"OKP","crv":"Ed25519",…}`).
    Jwk,
    /// The raw 32 bytes in hex.
    Hex,
}
