//! What a stolen state file or saved plan is worth to someone guessing secrets: the CPU
//! time one guess costs with the parameters paysync records in a new state, side by side
//! with the HMAC-SHA256 fingerprints of state format 1 (whose key was in the file).
//!
//! The attacker's view: the file gives the salt, the parameters and a fingerprint; one
//! guess is one fingerprint computed from scratch (no cache), as below. With
//! `PAYSYNC_FINGERPRINT_KEY` set, the fingerprints are keyed and a guess cannot be
//! checked at all without that key.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use paysync::fingerprint::{FingerprintScheme, Fingerprinter};
use paysync::secrets::Redacted;
use sha2::Sha256;

use crate::report;

/// CPU time of this thread so far (Linux `/proc/thread-self/schedstat`), if known.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `guess` `n` times; returns (wall, CPU) per guess.
fn per_guess(n: u32, mut guess: impl FnMut(u32)) -> (Duration, Option<Duration>) {
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    for i in 0..n {
        guess(i);
    }
    let wall = wall0.elapsed() / n;
    let cpu = match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) => Some((b - a) / n),
        _ => None,
    };
    (wall, cpu)
}

pub fn run() {
    let scheme = FingerprintScheme::generate();
    let p = scheme.params();
    report(&format!(
        "secret fingerprints: checking one guessed secret with a state file or saved plan in hand \
         (Argon2id m={} KiB, t={}, p={}, as recorded in new states)",
        p.m_cost, p.t_cost, p.p_cost
    ));
    let n = 20;
    let (wall, cpu) = per_guess(n, |i| {
        // A new fingerprinter per guess: no cache, the attacker's cost.
        let f = Fingerprinter::new(scheme.clone(), None, None);
        std::hint::black_box(f.fingerprint(&Redacted::new(format!("guess-{i}"))));
    });
    let cpu_ms = cpu.map_or("n/a".to_owned(), |c| {
        format!("{:.1}", c.as_secs_f64() * 1e3)
    });
    report(&format!(
        "  argon2id (state format 2):       {:>9.1} ms CPU per guess ({:.1} ms wall; {:.0} guesses/s per core), {n} guesses",
        cpu.unwrap_or(wall).as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3,
        1.0 / cpu.unwrap_or(wall).as_secs_f64()
    ));
    let key = b"96bd27a5c48c7473cb60518a8d41db4774de31a98dd3fc6f48448e3596917690";
    let n = 200_000;
    let (wall, cpu) = per_guess(n, |i| {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(format!("guess-{i}").as_bytes());
        std::hint::black_box(mac.finalize());
    });
    report(&format!(
        "  hmac-sha256 (state format 1):    {:>9.4} ms CPU per guess ({:.0} guesses/s per core), {n} guesses",
        cpu.unwrap_or(wall).as_secs_f64() * 1e3,
        1.0 / cpu.unwrap_or(wall).as_secs_f64()
    ));
    report(&format!(
        "  CPU per guess, argon2id: {cpu_ms} ms (target >= 50 ms); with PAYSYNC_FINGERPRINT_KEY set a \
         guess cannot be checked without the key"
    ));
}

/// Issue 22.1: what fingerprinting N distinct secrets costs one run, with a fingerprint
/// key (one derivation, then one HMAC each) and without (one Argon2id each, spread over
/// the cores by `Fingerprinter::precompute`): wall time and the process's CPU time.
pub fn per_run() {
    let scheme = FingerprintScheme::generate();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    report(&format!(
        "secret fingerprints per run: N distinct secrets, default parameters, {cores} cores \
         (targets: with a key at most 1 s of CPU for 500; without, wall at most CPU / cores x 1.2)"
    ));
    report("       N  key   wall s   CPU s   CPU / cores x 1.2");
    for n in [10, 100, 500] {
        let values: Vec<Redacted<String>> = (0..n)
            .map(|i| Redacted::new(format!("secret-value-{i}")))
            .collect();
        for keyed in [true, false] {
            let key = keyed.then(|| Redacted::new(b"fingerprint-key-for-the-benchmark".to_vec()));
            let f = Fingerprinter::new(scheme.clone(), key, None);
            let (cpu0, wall0) = (crate::cpu_ms(), Instant::now());
            f.precompute(values.iter());
            for v in &values {
                std::hint::black_box(f.fingerprint(v));
            }
            let wall = wall0.elapsed().as_secs_f64();
            let cpu = (crate::cpu_ms() - cpu0) / 1e3;
            report(&format!(
                "{n:>8}  {:<4}  {wall:>7.2}  {cpu:>6.2}  {:>8.2}",
                if keyed { "yes" } else { "no" },
                cpu / cores as f64 * 1.2
            ));
        }
    }
}
