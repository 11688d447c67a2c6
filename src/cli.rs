//! Command-line syntax: the global flags (defined beside the configuration they feed) and one
//! subcommand, each defined beside the code that runs it (`commands/`).

use clap::Parser;

use crate::commands::Command;
use crate::config::GlobalArgs;

/// Haechi: token authority, PII vault and audit trail around customers' personal data.
#[derive(Debug, Parser)]
#[command(name = "haechi", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}
