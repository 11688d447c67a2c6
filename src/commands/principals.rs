//! `haechi admin create`, `haechi service create|list`, `haechi customers create`.

use std::io::BufRead as _;

use haechi_events::{Principal, RequestContext};
use haechi_token::{ClientKind, NewAccount};
use zeroize::Zeroizing;

use crate::Outcome;
use crate::cli::{AdminAction, CustomersAction, ServiceAction};
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::Runtime;

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
        CustomersAction::Import { file, batch } => {
            return crate::commands::import::run(&file, batch, config);
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
