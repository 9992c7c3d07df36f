//! Strict inputs (issue 7.9): what a manifest may say is exactly what its reader
//! expects; anything else is a located error (exit 3), never guessed at or skipped.

use crate::support::{World, manifest};

/// Regression (issue 7.9): a dangling or looping symlink in a manifest directory used to be
/// skipped silently, turning its targets into "no longer managed".
#[cfg(unix)]
#[test]
fn a_dangling_or_looping_symlink_in_a_manifest_directory_is_a_located_error() {
    use std::os::unix::fs::symlink;
    let w = World::new();
    w.write("m/ok.yaml", &manifest(11, 1, &[("PAYMENT_ID", "x")]));
    symlink("gone.yaml", w.path("m/dangling.yaml")).unwrap();
    symlink("loop-b.yaml", w.path("m/loop-a.yaml")).unwrap();
    symlink("loop-a.yaml", w.path("m/loop-b.yaml")).unwrap();
    // Links that work are read; links to directories are not followed.
    w.write(
        "elsewhere/linked.yaml",
        &manifest(12, 0, &[("PAYMENT_ID", "y")]),
    );
    symlink("../elsewhere/linked.yaml", w.path("m/linked.yaml")).unwrap();
    symlink("../elsewhere", w.path("m/dir-link")).unwrap();
    let out = w.run(&["validate", "m"]);
    out.expect_code(3);
    for (path, why) in [
        ("m/dangling.yaml", "a symlink to nothing"),
        ("m/loop-a.yaml", "a symlink that cannot be followed"),
        ("m/loop-b.yaml", "a symlink that cannot be followed"),
    ] {
        assert!(
            out.stderr.contains(&format!("--> {path}")),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("{path} is {why}")),
            "{}",
            out.stderr
        );
    }
    std::fs::remove_file(w.path("m/dangling.yaml")).unwrap();
    std::fs::remove_file(w.path("m/loop-a.yaml")).unwrap();
    std::fs::remove_file(w.path("m/loop-b.yaml")).unwrap();
    let out = w.run(&["validate", "m"]);
    out.expect_code(0);
    assert!(out.stdout.contains("Valid: 2 targets"), "{}", out.stdout);
}

/// Regression (issue 7.9): `paySystem: 0x65` was taken as pay system 101, and a
/// `!!binary` value was decoded silently; both are now exit 3 with their location, and
/// nothing is sent.
#[test]
fn non_decimal_ids_and_yaml_tags_are_located_errors_through_every_command() {
    let w = World::new();
    w.write(
        "hex/m.yaml",
        &manifest(11, 1, &[("PAYMENT_ID", "x")]).replace("paySystem: 11", "paySystem: 0x65"),
    );
    w.write(
        "tag/m.yaml",
        &manifest(11, 1, &[("PAYMENT_ID", "x")])
            .replace("PAYMENT_ID: \"x\"", "PAYMENT_ID: !!binary eA=="),
    );
    for (dir, place, what) in [
        ("hex", "hex/m.yaml:3:12", "found `0x65`"),
        (
            "tag",
            "tag/m.yaml:6:15",
            "YAML tag `!!binary` is not allowed",
        ),
    ] {
        for command in [&["validate"][..], &["plan"], &["apply", "--auto-approve"]] {
            let mut args = command.to_vec();
            args.push(dir);
            let out = w.run(&args);
            out.expect_code(3);
            assert!(
                out.stderr.contains(&format!("--> {place}")),
                "{}",
                out.stderr
            );
            assert!(out.stderr.contains(what), "{}", out.stderr);
        }
    }
    assert!(w.requests().is_empty());
}
