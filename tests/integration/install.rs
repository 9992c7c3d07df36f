//! `scripts/install.sh`, the README's install one-liner and the Action's installer, run
//! against a local copy of a release's layout: the right archive for the machine, checked
//! against its SHA-256, and nothing installed when anything is off.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Outcome, repo_root};

/// A release directory holding `paysync-<target>.tar.gz` and its `.sha256` for the
/// x86_64 and aarch64 Linux targets: x86_64's holds this build's binary, aarch64's a
/// script that says which archive it came from. The archives are made once per test
/// run (compressing the debug binary is the slow part) and copied into `dir`.
pub fn fake_release(dir: &Path) -> PathBuf {
    static RELEASE: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    let files = RELEASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let release = make_release(dir.path());
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&release)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).unwrap())
            })
            .collect();
        files.sort();
        files
    });
    let release = dir.join("release");
    std::fs::create_dir_all(&release).unwrap();
    for (name, bytes) in files {
        std::fs::write(release.join(name), bytes).unwrap();
    }
    release
}

/// Builds the archives and their checksums in `dir/release`.
fn make_release(dir: &Path) -> PathBuf {
    let release = dir.join("release");
    std::fs::create_dir_all(&release).unwrap();
    for (target, binary) in [
        ("x86_64-unknown-linux-musl", None),
        (
            "aarch64-unknown-linux-musl",
            Some("#!/bin/sh\necho 'paysync 0.0.0-aarch64'\n"),
        ),
    ] {
        let stage = dir.join(format!("stage-{target}"));
        std::fs::create_dir_all(&stage).unwrap();
        match binary {
            None => {
                std::fs::copy(env!("CARGO_BIN_EXE_paysync"), stage.join("paysync")).unwrap();
            }
            Some(text) => std::fs::write(stage.join("paysync"), text).unwrap(),
        }
        let archive = format!("paysync-{target}.tar.gz");
        let tar = Command::new("tar")
            .arg("-czf")
            .arg(release.join(&archive))
            .arg("-C")
            .arg(&stage)
            .arg("paysync")
            .status()
            .unwrap();
        assert!(tar.success());
        let sum = Command::new("sha256sum")
            .arg(&archive)
            .current_dir(&release)
            .output()
            .unwrap();
        assert!(sum.status.success());
        std::fs::write(release.join(format!("{archive}.sha256")), sum.stdout).unwrap();
    }
    release
}

fn install(release: &Path, to: &Path, os: &str, arch: &str) -> Outcome {
    let out = Command::new("sh")
        .arg(repo_root().join("scripts/install.sh"))
        .args(["--version", "0.1.0", "--base-url"])
        .arg(release)
        .arg("--to")
        .arg(to)
        .env("PAYSYNC_INSTALL_OS", os)
        .env("PAYSYNC_INSTALL_ARCH", arch)
        .output()
        .expect("sh runs");
    Outcome::from(out)
}

#[test]
fn installs_the_archive_of_the_machine_and_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let release = fake_release(dir.path());
    let bin = dir.path().join("bin");
    let out = install(&release, &bin, "Linux", "x86_64");
    out.expect_code(0);
    let version = Command::new(bin.join("paysync"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("paysync {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(
        out.stdout.contains("x86_64-unknown-linux-musl"),
        "{}",
        out.stdout
    );

    // As the README's one-liner runs it: the script on standard input (`| sh -s -- ...`).
    let piped = dir.path().join("piped");
    let mut child = Command::new("sh")
        .args(["-s", "--", "--version", "0.1.0", "--base-url"])
        .arg(&release)
        .arg("--to")
        .arg(&piped)
        .env("PAYSYNC_INSTALL_OS", "Linux")
        .env("PAYSYNC_INSTALL_ARCH", "x86_64")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let script = std::fs::read(repo_root().join("scripts/install.sh")).unwrap();
        child.stdin.take().unwrap().write_all(&script).unwrap();
    }
    assert!(child.wait_with_output().unwrap().status.success());
    let version = Command::new(piped.join("paysync"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());

    // arm64 (as macOS's uname says it) on Linux picks the aarch64 archive.
    let arm = dir.path().join("arm");
    install(&release, &arm, "Linux", "arm64").expect_code(0);
    let text = std::fs::read_to_string(arm.join("paysync")).unwrap();
    assert!(text.contains("aarch64"), "{text}");
}

#[test]
fn a_bad_checksum_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let release = fake_release(dir.path());
    let sums = release.join("paysync-x86_64-unknown-linux-musl.tar.gz.sha256");
    let good = std::fs::read_to_string(&sums).unwrap();
    let flipped = if good.starts_with('0') { "1" } else { "0" };
    std::fs::write(&sums, format!("{flipped}{}", &good[1..])).unwrap();
    let bin = dir.path().join("bin");
    let out = install(&release, &bin, "Linux", "x86_64");
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("checksum mismatch"), "{}", out.stderr);
    assert!(!bin.join("paysync").exists(), "something was installed");

    // A missing checksum file is refused too.
    std::fs::remove_file(&sums).unwrap();
    let out = install(&release, &bin, "Linux", "x86_64");
    assert_ne!(out.code, 0, "{out:?}");
    assert!(!bin.join("paysync").exists());
}

#[test]
fn an_unknown_machine_is_refused_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let release = fake_release(dir.path());
    let bin = dir.path().join("bin");
    let out = install(&release, &bin, "Linux", "sparc64");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("sparc64"), "{}", out.stderr);
    assert!(
        out.stderr.contains("cargo install --locked paysync"),
        "{}",
        out.stderr
    );
    let out = install(&release, &bin, "FreeBSD", "x86_64");
    assert_ne!(out.code, 0);
    assert!(!bin.join("paysync").exists());
}

/// What the release workflow uploads is what the installer reads: the archive name,
/// the SHA-256 files, every target the installer knows.
#[test]
fn the_release_workflow_uploads_what_the_installer_reads() {
    let workflow =
        std::fs::read_to_string(repo_root().join(".github/workflows/release.yml")).unwrap();
    let installer = std::fs::read_to_string(repo_root().join("scripts/install.sh")).unwrap();
    assert!(workflow.contains("archive: paysync-$target"), "{workflow}");
    assert!(workflow.contains("checksum: sha256"), "{workflow}");
    assert!(installer.contains(r#"archive="paysync-$target.tar.gz""#));
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ] {
        assert!(workflow.contains(&format!("target: {target}")), "{target}");
    }
}

/// The release notes come from CHANGELOG.md: this version has a section, and a version
/// without one stops the release.
#[test]
fn the_changelog_has_notes_for_this_version() {
    let notes = |version: &str| {
        Outcome::from(
            Command::new("sh")
                .arg(repo_root().join("scripts/changelog-notes.sh"))
                .arg(version)
                .arg(repo_root().join("CHANGELOG.md"))
                .output()
                .unwrap(),
        )
    };
    let out = notes(env!("CARGO_PKG_VERSION"));
    out.expect_code(0);
    assert!(out.stdout.contains("### Added"), "{}", out.stdout);
    assert!(!out.stdout.contains("## ["), "{}", out.stdout);
    let missing = notes("99.0.0");
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("no notes for 99.0.0"),
        "{}",
        missing.stderr
    );
}

/// Regression (issue 23.5): `--base-url` refused a relative directory its help allows.
#[test]
fn a_relative_base_url_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let release = fake_release(dir.path());
    let name = release.file_name().unwrap().to_owned();
    let out = Command::new("sh")
        .arg(repo_root().join("scripts/install.sh"))
        .args(["--version", "0.1.0", "--base-url"])
        .arg(&name)
        .args(["--to", "bin"])
        .current_dir(release.parent().unwrap())
        .env("PAYSYNC_INSTALL_OS", "Linux")
        .env("PAYSYNC_INSTALL_ARCH", "x86_64")
        .output()
        .unwrap();
    Outcome::from(out).expect_code(0);
    assert!(
        dir.path().join("bin/paysync").exists()
            || release.parent().unwrap().join("bin/paysync").exists()
    );
    // Not a directory, nor a URL paysync reads: refused, saying which.
    let out = install(
        &dir.path().join("nowhere"),
        &dir.path().join("b2"),
        "Linux",
        "x86_64",
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("no directory"), "{}", out.stderr);
}
