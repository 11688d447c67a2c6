//! The report as a PDF: the HTML page printed by headless Chromium, when one is installed.
//!
//! The page has no script and a policy that loads nothing, so printing it needs no network;
//! Chromium runs with a throwaway profile and is killed if it takes longer than a minute.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

const NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];
const PRINT_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium to use: `explicit`, else the first of [`NAMES`] on `PATH`.
pub(super) fn chromium(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| NAMES.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Prints `html` to PDF bytes.
pub(super) async fn print(chromium: &Path, html: &Path) -> anyhow::Result<Vec<u8>> {
    let html =
        std::fs::canonicalize(html).with_context(|| format!("cannot find {}", html.display()))?;
    let scratch = tempfile::tempdir().context("cannot make a temporary Chromium profile")?;
    let pdf = scratch.path().join("report.pdf");
    let mut command = tokio::process::Command::new(chromium);
    command
        .arg("--headless")
        .arg("--disable-gpu")
        .arg("--no-first-run")
        .arg("--no-pdf-header-footer")
        .arg(format!(
            "--user-data-dir={}",
            scratch.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        // A directory named with `#` or `%` is a different URL unless encoded.
        .arg(
            url::Url::from_file_path(&html)
                .map_err(|()| anyhow::anyhow!("cannot make a URL of {}", html.display()))?
                .as_str(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // Chromium needs none of Haechi's settings, and some are secrets (the master key, an HSM's
    // PIN): they stay in this process.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HAECHI_") {
            command.env_remove(name);
        }
    }
    if running_as_root() {
        // Chromium refuses to start its sandbox as root (CI containers); the page it renders
        // is our own, with no script and nothing loaded.
        command.arg("--no-sandbox");
    }
    let output = tokio::time::timeout(PRINT_TIMEOUT, command.output())
        .await
        .map_err(|_| anyhow::anyhow!("Chromium did not print the PDF within a minute"))?
        .with_context(|| format!("cannot run {}", chromium.display()))?;
    if !output.status.success() || !pdf.exists() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        anyhow::bail!(
            "Chromium could not print the PDF ({}): {last}",
            output.status
        );
    }
    std::fs::read(&pdf).with_context(|| format!("cannot read {}", pdf.display()))
}

fn running_as_root() -> bool {
    // The effective user id of this process, from procfs (no unsafe call needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}
