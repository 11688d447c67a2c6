//! A large synthetic leaked dump for the `leak match` benchmark (scripts/bench/leak_load.sh).
//!
//! `cargo run --release --example leak_dump -- ROWS CUSTOMERS SHARE_PERCENT > dump.csv`
//!
//! Writes a CSV (`성명,이메일,휴대폰,주소`) of ROWS rows. SHARE_PERCENT of them are customers of
//! the population `haechi customers generate --count CUSTOMERS --seed 1` makes, spelled the
//! way dumps spell them (upper-case e-mails, `+82`, digits only, full-width digits, decomposed
//! Hangul); the rest are strangers from another population, whose phones now and then are a
//! customer's (about CUSTOMERS / 80 M of them, as recycled numbers are).

use std::io::{BufWriter, Write as _};

use anyhow::Context as _;
use haechi_korean::CustomerGenerator;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut number = |name: &str| -> anyhow::Result<u64> {
        args.next()
            .with_context(|| {
                format!("usage: leak_dump ROWS CUSTOMERS SHARE_PERCENT (missing {name})")
            })?
            .parse()
            .with_context(|| format!("{name} must be a number"))
    };
    let rows = number("ROWS")?;
    let customers = number("CUSTOMERS")?.max(1);
    let share = number("SHARE_PERCENT")?.min(100);
    let ours = CustomerGenerator::new(1);
    let strangers = CustomerGenerator::new(0x5354_5241_4e47);
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    writeln!(out, "성명,이메일,휴대폰,주소")?;
    for row in 0..rows {
        let is_customer = row % 100 < share;
        let person = if is_customer {
            // A spread of customers, each at most once per pass over the population.
            ours.customer(row.wrapping_mul(2_654_435_761) % customers)
        } else {
            strangers.customer(row)
        };
        let email = match row % 4 {
            0 => person.email.to_uppercase(),
            _ => person.email.clone(),
        };
        let phone = match row % 5 {
            0 => person.phone.replace('-', ""),
            1 => format!("+82 {}", &person.phone[1..].replace('-', " ")),
            2 => full_width(&person.phone),
            _ => person.phone.clone(),
        };
        let name = if row % 7 == 0 {
            decomposed(&person.name)
        } else {
            person.name.clone()
        };
        let address = person
            .addresses
            .first()
            .map(|a| a.road_address.clone())
            .unwrap_or_default();
        writeln!(out, "{name},{email},{phone},\"{address}\"")?;
    }
    out.flush()?;
    Ok(())
}

fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' | '-' => char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// Hangul syllables as conjoining jamo (NFD).
fn decomposed(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let code = u32::from(c);
        if (0xAC00..=0xD7A3).contains(&code) {
            let index = code - 0xAC00;
            out.extend(char::from_u32(0x1100 + index / (21 * 28)));
            out.extend(char::from_u32(0x1161 + (index % (21 * 28)) / 28));
            if index % 28 != 0 {
                out.extend(char::from_u32(0x11A7 + index % 28));
            }
        } else {
            out.push(c);
        }
    }
    out
}
