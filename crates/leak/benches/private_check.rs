//! The exposure check's costs beside the SHA-1 the range API asks of its clients, in the same
//! run: one blinded evaluation (per request), one tag (per exposed identifier, at tagging),
//! one bucket's answer from a directory of a million (per request), and building that
//! directory (per refresh).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark fails loudly on the first surprise"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use haechi_leak::exposure::ExposureHash;
use haechi_leak::private_check::{Bucket, CheckKey, ExposureDirectory, MemberTag};
use rand_core::{OsRng, RngCore};

fn bench(c: &mut Criterion) {
    let key = CheckKey::from_seed(&[3; 32]).unwrap();
    let hash = ExposureHash::of_normalised("01023456789");
    // ristretto255's basepoint: a canonical element, as a client's blinded one is.
    let element: [u8; 32] = [
        0xe2, 0xf2, 0xae, 0x0a, 0x6a, 0xbc, 0x4e, 0x71, 0xa8, 0x84, 0xa9, 0x61, 0xc5, 0x00, 0x51,
        0x5f, 0x58, 0xe3, 0x0b, 0x6a, 0xa5, 0x82, 0xdd, 0x8d, 0xb6, 0xa6, 0x59, 0x45, 0xe0, 0x8d,
        0x2d, 0x76,
    ];
    let entries: Vec<(Bucket, MemberTag)> = (0..1_000_000u32)
        .map(|_| {
            let mut bytes = [0u8; 12];
            OsRng.fill_bytes(&mut bytes);
            let bucket = Bucket::from_value(u16::from_be_bytes([bytes[0], bytes[1]]));
            (bucket, MemberTag::from_bytes(&bytes).unwrap())
        })
        .collect();
    let directory = ExposureDirectory::build(key.id(), entries.clone()).unwrap();

    let mut group = c.benchmark_group("exposure check");
    group.bench_function("baseline: SHA-1 of a normalised phone", |b| {
        b.iter(|| ExposureHash::of_normalised(std::hint::black_box("01023456789")))
    });
    group.bench_function("blinded evaluation (per request)", |b| {
        b.iter(|| {
            key.evaluate_blinded(std::hint::black_box(&element))
                .unwrap()
        })
    });
    group.bench_function(
        "tag of one exposed hash (per identifier, at tagging)",
        |b| b.iter(|| key.member_tag(std::hint::black_box(&hash)).unwrap()),
    );
    group.bench_function(
        "a bucket's tags from a directory of 1 M (per request)",
        |b| {
            b.iter(|| {
                directory
                    .bucket(std::hint::black_box(Bucket::of(&hash)))
                    .to_vec()
            })
        },
    );
    group.sample_size(10);
    group.bench_function("building a directory of 1 M tags (per refresh)", |b| {
        b.iter(|| ExposureDirectory::build("ck-bench", entries.clone()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
