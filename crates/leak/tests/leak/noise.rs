//! How often random numbers of each risky shape are reported: the false-positive rate the
//! corpus cannot show, because the check digits make it a matter of chance.

use haechi_leak::{PiiKind, scan};

/// SplitMix64: deterministic random digits without a dependency.
struct Digits(u64);

impl Digits {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }
}

/// The share of `samples` random texts built by `make` in which the scanner reports anything.
fn reported_share(
    samples: u32,
    mut make: impl FnMut(&mut Digits) -> String,
) -> (f64, Vec<PiiKind>) {
    let mut random = Digits(7);
    let mut reported = 0;
    let mut kinds = Vec::new();
    for _ in 0..samples {
        let text = make(&mut random);
        let findings = scan(&text);
        if !findings.is_empty() {
            reported += 1;
            kinds.extend(findings.iter().map(|f| f.kind));
        }
    }
    kinds.sort();
    kinds.dedup();
    (f64::from(reported) / f64::from(samples), kinds)
}

#[test]
fn random_numbers_are_rarely_reported() {
    const SAMPLES: u32 = 20_000;
    /// A shape's name, the largest share allowed, and how to write a random one.
    type Shape = (&'static str, f64, fn(&mut Digits) -> String);
    let shapes: [Shape; 7] = [
        ("13 bare digits", 0.08, |r| {
            format!("번호 {} 확인", r.digits(13))
        }),
        ("16 bare digits", 0.05, |r| {
            format!("번호 {} 확인", r.digits(16))
        }),
        ("12 bare digits (waybill)", 0.001, |r| {
            format!("운송장 {}", r.digits(12))
        }),
        ("10 bare digits", 0.001, |r| {
            format!("번호 {}", r.digits(10))
        }),
        ("4-4-4 dashed (waybill)", 0.001, |r| {
            format!("{}-{}-{}", r.digits(4), r.digits(4), r.digits(4))
        }),
        ("YYYYMMDD-7 order number", 0.001, |r| {
            format!("주문번호 2024{}-{}", r.digits(4), r.digits(7))
        }),
        ("14-digit timestamp", 0.001, |r| {
            format!("20{}", r.digits(12))
        }),
    ];
    for (shape, bound, make) in shapes {
        let (share, kinds) = reported_share(SAMPLES, make);
        println!(
            "{shape:<26} reported in {:>6.2} % as {kinds:?}",
            share * 100.0
        );
        assert!(share <= bound, "{shape}: {share} > {bound}");
    }
}
