//! Reads keep `--parallelism` requests in flight, like apply's writes (issue 22.4): with
//! every settings read held on the portal, three reach it at once; once let through, the
//! output is the one a read one batch at a time gives.

use std::time::Duration;

use paysync_emulator::{Fault, Gate};

use crate::support::World;

/// 300 targets applied (six read batches), `args` run one batch at a time and then three
/// at once with every read held until three are in flight: the same output.
fn reads_three_at_once(args: &[&str]) {
    let w = World::with_seed(crate::seeds::many_pay_systems(300));
    crate::signals::manifests(&w, 300, "v1");
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    let one_at_a_time = w.cmd().args(args).args(["--parallelism", "1"]).run();
    let gate = Gate::new();
    w.portal
        .inject(Fault::hold(&gate).method("sale.paysystem.settings.get"));
    let before = w.portal.requests_received();
    let child = crate::signals::watch(
        w.cmd()
            .args(args)
            .args(["--parallelism", "3"])
            .into_std()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("paysync starts"),
    );
    crate::signals::wait_until(Duration::from_secs(60), "three reads in flight", || {
        w.portal.requests_received() >= before + 3
    });
    gate.open();
    let (out, _) = child.finish(Duration::from_secs(60));
    assert_eq!(out.code, one_at_a_time.code, "{out:?}");
    assert_eq!(out.stdout, one_at_a_time.stdout);
}

#[test]
fn drift_keeps_parallelism_reads_in_flight() {
    reads_three_at_once(&["drift"]);
}

/// `plan --refresh` (whose first reads share the catalog's batch, so the rest is what
/// goes in parallel) and `import --all` read the same with four in flight as one by one.
#[test]
fn plan_refresh_and_import_read_the_same_whatever_the_parallelism() {
    let w = World::with_seed(crate::seeds::many_pay_systems(300));
    crate::signals::manifests(&w, 300, "v1");
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    for args in [
        &["plan", "--refresh", "--detailed-exitcode", "m"][..],
        &["import", "--all", "--out", "imported", "--force"][..],
    ] {
        let one = w.cmd().args(args).args(["--parallelism", "1"]).run();
        let four = w.cmd().args(args).args(["--parallelism", "4"]).run();
        assert_eq!(
            (one.code, &one.stdout),
            (four.code, &four.stdout),
            "{args:?}"
        );
    }
}
