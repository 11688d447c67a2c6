//! The `haechi` command: parses the command line and hands it to [`run`].

#![forbid(unsafe_code)]

mod audit_watch;
mod backends;
mod cli;
mod commands;
mod config;
mod console;
mod custody;
mod custody_watch;
mod detection;
mod evidence;
mod exposure_check;
mod listeners;
mod notices;
mod portal;
mod runtime;
mod watches;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc, not the system allocator: bulk commands (`leak match`, imports) allocate rows on
/// one thread and free them on others, which glibc's malloc serialises (BENCHMARKS.md, leak
/// watch).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a command found, as the exit code says it: 0 nothing to report, 1 findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done; nothing to report.
    Clean,
    /// Done; something was found that the caller asked to be told about by the exit code.
    Findings,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<Outcome> {
    let config = config::Config::load(&cli.global)?;
    commands::run(cli.command, config)
}
