//! `haechi config show`.

use clap::Subcommand;

use crate::Outcome;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective configuration (file < environment < flags), secrets redacted.
    Show,
}

pub fn run(action: ConfigAction, config: &Config) -> anyhow::Result<Outcome> {
    match action {
        ConfigAction::Show => {
            print!("{}", config.redacted_toml()?);
            if config.master_key.is_none() {
                println!(
                    "# master key: from file {}",
                    config.master_key_path().display()
                );
            } else {
                println!("# master key: from HAECHI_MASTER_KEY (redacted)");
            }
            Ok(Outcome::Clean)
        }
    }
}
