//! Bounded reads (issue 7.3): an endless answer, FIFOs, devices and oversized files end
//! with a clear, located error at once, in bounded memory, never a hang.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use paysync_emulator::Fault;

use crate::support::{Manifest, Outcome, World, manifest};

/// Runs a command to its end (killing it after `limit`, which fails the test), sampling
/// the child's peak resident memory (`VmHWM`, Linux) while it runs. Returns the outcome
/// and the highest peak seen, in KiB (0 where `/proc` is not available).
pub fn run_sampling_memory(mut cmd: Command, limit: Duration) -> (Outcome, u64) {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("starts");
    let status_file = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak = 0;
    // Drain the pipes on threads so a chatty child cannot block on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut s).ok();
        s
    });
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let outcome = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        dir: None,
    };
    (outcome, peak)
}

/// `paysync args...` in the world, run to its end within 20 seconds.
fn run_bounded(w: &World, args: &[&str]) -> Outcome {
    let mut cmd = w.cmd().into_std();
    cmd.args(args);
    run_sampling_memory(cmd, Duration::from_secs(20)).0
}

fn mkfifo(path: &Path) {
    assert!(
        Command::new("mkfifo").arg(path).status().unwrap().success(),
        "mkfifo {}",
        path.display()
    );
}

/// Regression (issue 7.3): an endless response body used to be read until the process
/// hit its memory limit.
#[test]
fn an_endless_answer_ends_with_a_clear_error_in_bounded_memory() {
    let w = World::applied();
    let state = w.read("paysync.state.json");
    w.set_mode("TEST");
    w.portal.inject(Fault::endless_body().method("batch"));
    let mut cmd = w.cmd().into_std();
    cmd.args(["apply", "--auto-approve", "m.yaml"]);
    let (out, peak_kib) = run_sampling_memory(cmd, Duration::from_secs(60));
    // The batch was sent and its answer never read whole: its outcome is unknown.
    assert_eq!(out.code, 6, "{out:?}");
    assert!(
        out.stderr.contains("the outcome is unknown"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("larger than 32 MiB (33554432 bytes)"),
        "{}",
        out.stderr
    );
    if Path::new("/proc/self/status").exists() {
        assert!(peak_kib > 0, "no memory sample taken");
        assert!(peak_kib < 100 * 1024, "peak RSS {peak_kib} KiB");
    }
    assert_eq!(w.read("paysync.state.json"), state, "state untouched");
}

/// Regression (issue 7.3): `/dev/zero` as a manifest used to be read to 2 GB, and a FIFO
/// to wait forever; both now fail at once with their location.
#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_as_a_manifest_fails_at_once_with_its_location() {
    let w = World::new();
    let fifo = w.path("fifo.yaml");
    mkfifo(&fifo);
    std::fs::create_dir(w.path("dir")).unwrap();
    mkfifo(&w.path("dir/pipe.yaml"));
    w.write("dir/ok.yaml", &manifest(11, 1, &[("PAYMENT_ID", "x")]));
    for (args, shown, kind) in [
        (
            &["validate", "/dev/zero"][..],
            "/dev/zero",
            "a character device",
        ),
        (&["validate", "fifo.yaml"], "fifo.yaml", "a FIFO"),
        (&["plan", "dir"], "dir/pipe.yaml", "a FIFO"),
        (
            &["apply", "--auto-approve", "fifo.yaml"],
            "fifo.yaml",
            "a FIFO",
        ),
    ] {
        let out = run_bounded(&w, args);
        assert_eq!(out.code, 3, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(&format!("--> {shown}")),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("{shown} is {kind}")),
            "{}",
            out.stderr
        );
    }
    assert!(w.requests().is_empty());
}

/// Regression (issue 7.3): a `file:` secret naming a FIFO or a device fails at once, with
/// the manifest location of the reference; apply sends nothing.
#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_as_a_file_secret_fails_at_once_with_its_location() {
    let w = World::new();
    std::fs::create_dir(w.path("m")).unwrap();
    mkfifo(&w.path("m/key.pipe"));
    for target in ["key.pipe", "/dev/zero"] {
        w.write(
            "m/acme.yaml",
            &Manifest::new()
                .target(11, 1)
                .secret("REST_SERVICE_KEY_IFRAME", &format!("file:{target}"))
                .text(),
        );
        for args in [&["plan", "m"][..], &["apply", "--auto-approve", "m"]] {
            let out = run_bounded(&w, args);
            assert_eq!(out.code, 3, "{args:?}: {out:?}");
            assert!(out.stderr.contains("--> m/acme.yaml:6:"), "{}", out.stderr);
            assert!(
                out.stderr.contains(&format!("secret file:{target} is a")),
                "{}",
                out.stderr
            );
        }
    }
    assert!(w.requests().is_empty());
}

/// Regression (issue 7.3): a manifest over the limit was parsed whole before it was
/// refused, and the message did not say what the limit is.
#[test]
fn a_manifest_over_the_limit_is_refused_before_it_is_read_naming_the_limit() {
    let w = World::new();
    let mut text = manifest(11, 1, &[("PAYMENT_ID", "x")]);
    text.push_str(&format!("# {}\n", "x".repeat(5 << 20)));
    w.write("big.yaml", &text);
    let out = run_bounded(&w, &["validate", "big.yaml"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr
            .contains("a manifest file may be at most 4 MiB (4194304 bytes)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--> big.yaml"), "{}", out.stderr);
}

/// A state file or a saved plan that is a FIFO is refused at once too.
#[cfg(unix)]
#[test]
fn a_fifo_as_state_or_saved_plan_is_refused_at_once() {
    let w = World::new();
    w.write("m.yaml", &manifest(11, 1, &[("PAYMENT_ID", "x")]));
    mkfifo(&w.path("state.pipe"));
    let out = run_bounded(&w, &["plan", "--state", "state.pipe", "m.yaml"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("state.pipe: it is a FIFO"),
        "{}",
        out.stderr
    );
    let out = run_bounded(&w, &["apply", "--plan", "state.pipe"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("it is a FIFO"), "{}", out.stderr);
    assert!(w.requests().is_empty());
}
