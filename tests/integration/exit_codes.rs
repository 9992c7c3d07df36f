//! Every documented exit code, produced by the real binary, and the documentation of them
//! (README table, `paysync --help`) kept equal to `paysync::error::exit`.
//!
//! Code 7 (drift found) is produced by `paysync drift`; its tests live with that command
//! (`drift::drift_found_exits_7_shows_each_code_and_hides_secrets` in tests/integration/drift.rs);
//! this module only checks that 7 is documented.

use paysync::error::exit;
use paysync::state::file::FileBackend;
use paysync_emulator::Fault;

use crate::support::{Manifest, World, manifest, repo_root};

fn one_target(w: &World) {
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
}

#[test]
fn exit_0_success_and_no_changes() {
    let w = World::new();
    one_target(&w);
    w.run(&["validate", "m.yaml"]).expect_code(exit::SUCCESS);
    w.run(&["apply", "--auto-approve", "m.yaml"])
        .expect_code(exit::SUCCESS);
    w.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(exit::SUCCESS);
}

#[test]
fn exit_1_error() {
    let w = World::new();
    one_target(&w);
    // Not on a terminal, without --auto-approve or a saved plan.
    let out = w.run(&["apply", "m.yaml"]);
    out.expect_code(exit::ERROR);
    assert!(out.stderr.contains("--auto-approve"), "{}", out.stderr);
    // A missing secret at apply time.
    w.write(
        "s.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret("K", "env:PAYSYNC_TEST_UNSET_SECRET")
            .text(),
    );
    w.run(&["apply", "--auto-approve", "s.yaml"])
        .expect_code(exit::ERROR);
    assert!(w.requests().is_empty());
}

#[test]
fn exit_2_changes_present() {
    let w = World::new();
    one_target(&w);
    w.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(exit::CHANGES_PRESENT);
    // Without --detailed-exitcode changes are success.
    w.run(&["plan", "m.yaml"]).expect_code(exit::SUCCESS);
}

#[test]
fn exit_3_invalid_input() {
    let w = World::new();
    w.write(
        "bad.yaml",
        &Manifest::new()
            .target(11, 1)
            .literals(&[("A", "x"), ("A", "y")])
            .text(),
    );
    for command in ["validate", "plan"] {
        w.run(&[command, "bad.yaml"])
            .expect_code(exit::INVALID_INPUT);
    }
    w.run(&["apply", "--auto-approve", "bad.yaml"])
        .expect_code(exit::INVALID_INPUT);
    // An unreadable saved plan is invalid input too.
    w.write("plan.json", "{\"format\": \"not a plan\"}");
    w.run(&["apply", "--plan", "plan.json"])
        .expect_code(exit::INVALID_INPUT);
    assert!(w.requests().is_empty());
}

#[test]
fn exit_4_state_locked() {
    let w = World::new();
    one_target(&w);
    let _held = FileBackend::new(w.path("paysync.state.json"))
        .lock()
        .unwrap();
    w.run(&["apply", "--auto-approve", "m.yaml"])
        .expect_code(exit::LOCKED);
    assert!(w.requests().is_empty());
}

#[test]
fn exit_5_stale_saved_plan() {
    let w = World::new();
    one_target(&w);
    w.run(&["plan", "--out", "plan.json", "m.yaml"])
        .expect_code(exit::SUCCESS);
    w.run(&["apply", "--plan", "plan.json"])
        .expect_code(exit::SUCCESS);
    w.portal.clear_requests();
    // The state moved on: the same plan again is stale.
    w.run(&["apply", "--plan", "plan.json"])
        .expect_code(exit::STALE_PLAN);
    assert!(w.requests().is_empty());
}

#[test]
fn exit_6_partial_apply() {
    let w = World::new();
    w.write(
        "m/a.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.write(
        "m/b.yaml",
        &manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w.portal.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .pay_system(12),
    );
    w.run(&["apply", "--auto-approve", "m"])
        .expect_code(exit::PARTIAL_APPLY);
    assert!(w.read("paysync.state.json").contains("\"paySystem\": 11"));
}

#[test]
fn exit_64_usage() {
    let w = World::new();
    w.run(&["plan", "--no-such-flag"]).expect_code(exit::USAGE);
    w.run(&["no-such-command"]).expect_code(exit::USAGE);
    w.run(&["apply", "--plan"]).expect_code(exit::USAGE);
}

/// The codes and their one-line meanings, as documented.
const DOCUMENTED: [(i32, &str); 12] = [
    (exit::SUCCESS, "success"),
    (exit::ERROR, "error"),
    (exit::CHANGES_PRESENT, "changes present"),
    (exit::INVALID_INPUT, "invalid input"),
    (exit::LOCKED, "locked"),
    (exit::STALE_PLAN, "stale"),
    (exit::PARTIAL_APPLY, "partial apply"),
    (exit::DRIFT_FOUND, "drift found"),
    (exit::NOT_COMPARED, "not compared"),
    (exit::USAGE, "usage"),
    (exit::INTERRUPTED, "interrupted"),
    (exit::TERMINATED, "terminated"),
];

#[test]
fn the_readme_table_and_help_list_every_exit_code() {
    let section = std::fs::read_to_string(repo_root().join("docs/exit-codes.md")).unwrap();
    let rows: Vec<(i32, String)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split('|').collect();
            let code = cells.first()?.trim().parse().ok()?;
            Some((code, cells.get(1)?.trim().to_owned()))
        })
        .collect();
    assert_eq!(
        rows.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        DOCUMENTED.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        "docs/exit-codes.md table: {rows:?}"
    );
    for ((code, meaning), (_, row)) in DOCUMENTED.iter().zip(&rows) {
        assert!(
            row.contains(meaning),
            "docs/exit-codes.md row {code}: {row:?}"
        );
    }

    let help = World::new().run(&["--help"]);
    help.expect_code(exit::SUCCESS);
    let help = help.stdout.replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for (code, meaning) in DOCUMENTED {
        assert!(
            help.contains(&format!("{code} {meaning}"))
                || help.contains(&format!("{code} state {meaning}"))
                || help.contains(&format!("{code} saved plan {meaning}")),
            "--help mentions {code} {meaning}: {help}"
        );
    }
}
