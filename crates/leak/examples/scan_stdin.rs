//! Prints the findings in standard input, one line at a time, masked:
//! `echo '주민번호 900101-1234568' | cargo run -p haechi-leak --example scan_stdin`.

use std::io::{self, BufRead};

use haechi_leak::{mask, scan};

fn main() -> io::Result<()> {
    for line in io::stdin().lock().lines() {
        let line = line?;
        for finding in scan(&line) {
            println!(
                "{}\t{:.2}\t{}\t{:?}",
                finding.kind,
                finding.confidence,
                mask(&line, &finding),
                finding.reasons
            );
        }
    }
    Ok(())
}
