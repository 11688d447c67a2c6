//! Prints generated customers as JSONL: `cargo run -p haechi-korean --example
//! generate_customers -- SEED COUNT`.

use std::io::{self, BufWriter, Write};

use haechi_korean::CustomerGenerator;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let count: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let generator = CustomerGenerator::new(seed);
    let mut out = BufWriter::new(io::stdout().lock());
    for index in 0..count {
        serde_json::to_writer(&mut out, &generator.customer(index))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
