//! Integration tests: the real `haechi` binary, started on a random port with a temporary data
//! dir, driven over real HTTP. One test binary, as in ripgrep; the harness is in `util`.

mod util;

mod audit;
mod hostile;
mod token;
mod vault;
