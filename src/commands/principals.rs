//! `haechi admin create`, `haechi service create|list`, `haechi customers create`.

use std::io::BufRead as _;
use std::path::PathBuf;

use clap::Subcommand;
use haechi_events::{Principal, RequestContext};
use haechi_token::{ClientKind, NewAccount};
use zeroize::Zeroizing;

use crate::Outcome;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::Runtime;

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
        /// The JSONL file, or `-` for standard input (not resumable: a pipe cannot be
        /// re-read).
        file: PathBuf,
        /// Lines per transaction.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Also write `LINE<TAB>CUSTOMER_ID` for every imported customer to this file, once
        /// its batch is committed (appended to when an import resumes).
        #[arg(long, value_name = "FILE")]
        ids_out: Option<PathBuf>,
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

fn operator() -> Principal {
    Principal::Admin("cli".into())
}

pub fn admin(action: AdminAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    let AdminAction::Create { name } = action;
    block_on(async {
        let runtime = Runtime::open(config).await?;
        let credential = runtime
            .authority
            .clients()
            .create(
                ClientKind::Admin,
                &name,
                &[],
                &runtime.authority.operator_grant()?,
            )
            .await?;
        print_credential(&credential);
        runtime.close().await?;
        Ok(Outcome::Clean)
    })?
}

pub fn service(action: ServiceAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    block_on(async {
        let runtime = Runtime::open(config).await?;
        match action {
            ServiceAction::Create { name, purposes } => {
                let credential = runtime
                    .authority
                    .clients()
                    .create(
                        ClientKind::Service,
                        &name,
                        &purposes,
                        &runtime.authority.operator_grant()?,
                    )
                    .await?;
                print_credential(&credential);
            }
            ServiceAction::List => {
                for client in runtime.authority.clients().list().await? {
                    println!(
                        "{:<30} {:<30} {}{}",
                        client.client_id,
                        client.principal,
                        client.scopes.join(","),
                        if client.suspended_at.is_some() {
                            " (suspended)"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        runtime.close().await?;
        Ok(Outcome::Clean)
    })?
}

fn print_credential(credential: &haechi_token::ClientCredential) {
    println!("client_id={}", credential.client_id);
    println!("client_secret={}", credential.client_secret.as_str());
    eprintln!(
        "Store the secret now: it is shown once and kept only as a keyed hash. Get a token \
         with POST /v1/oauth/token (grant_type=client_credentials)."
    );
}

pub fn customers(action: CustomersAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    let (email, phone, password_stdin) = match action {
        CustomersAction::Create {
            email,
            phone,
            password_stdin,
        } => (email, phone, password_stdin),
        CustomersAction::Import {
            file,
            batch,
            ids_out,
        } => {
            return crate::commands::import::run(&file, batch, ids_out.as_deref(), config);
        }
        CustomersAction::Generate { count, seed, out } => {
            return crate::commands::import::generate(count, seed, out.as_deref());
        }
    };
    let password = if password_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line)?;
        Some(Zeroizing::new(
            line.trim_end_matches(['\r', '\n']).to_string(),
        ))
    } else {
        None
    };
    block_on(async {
        let runtime = Runtime::open(config).await?;
        let id = runtime
            .authority
            .accounts()
            .create(
                NewAccount {
                    customer_id: None,
                    email,
                    phone,
                    password,
                },
                &operator(),
                &RequestContext::local(),
            )
            .await?;
        println!("customer_id={id}");
        runtime.close().await?;
        Ok(Outcome::Clean)
    })?
}
