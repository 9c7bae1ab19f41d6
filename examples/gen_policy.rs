//! Writes a synthetic policy of N rules to stdout (the one the benches use), for timing
//! `pagent check` end to end: `cargo run --release --example gen_policy 10000 > /tmp/10k.pol`.

#[path = "../benches/common.rs"]
mod common;

fn main() {
    let n = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    print!("{}", common::policy_text(n));
}
