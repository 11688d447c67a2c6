//! Randomness as the domain sees it.

use rand_core::{OsRng, RngCore};

/// A source of cryptographically secure random bytes. Production uses the operating system
/// ([`OsRandom`]); the trait exists so that domain code never reaches for a global RNG.
pub trait SecureRandom: Send + Sync + std::fmt::Debug {
    /// Fills `buffer` with random bytes.
    fn fill(&self, buffer: &mut [u8]);

    /// 32 fresh random bytes.
    fn bytes32(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        self.fill(&mut bytes);
        bytes
    }

    /// 16 fresh random bytes (a 128-bit identifier).
    fn bytes16(&self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        self.fill(&mut bytes);
        bytes
    }
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, buffer: &mut [u8]) {
        OsRng.fill_bytes(buffer);
    }
}
