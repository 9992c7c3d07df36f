//! Test harness: a temporary working directory, a running emulator on 127.0.0.1:0, and
//! a builder for running the real `paysync` binary against them.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use paysync_emulator::{EmulatorHandle, RecordedRequest, Seed};

/// The secret value used by canary tests; it must never appear in any output.
pub const CANARY: &str = "CANARY-s3cr3t-7f1d";

/// Two targets with a secret each: `env:ACME_KEY` for 11/1 (beside a plain
/// `PS_WORK_MODE_IFRAME`), `file:keys/acme12.txt` for 12/0.
pub const SECRETS_MANIFEST: &str = "\
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 11
personType: 1
settings:
  PS_WORK_MODE_IFRAME: REGULAR
  REST_SERVICE_KEY_IFRAME: { secret: env:ACME_KEY }
---
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 12
personType: 0
settings:
  REST_SERVICE_KEY_IFRAME: { secret: file:keys/acme12.txt }
";

/// One test's world: a temp dir with manifests and state, and a portal.
pub struct World {
    pub dir: tempfile::TempDir,
    pub portal: EmulatorHandle,
}

impl World {
    pub fn new() -> World {
        World::with_seed(Seed::demo())
    }

    pub fn with_seed(seed: Seed) -> World {
        World {
            dir: tempfile::tempdir().expect("temp dir"),
            portal: EmulatorHandle::start(seed).expect("emulator starts"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file below the world's directory, creating parent directories.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// `paysync` in the world's directory, pointed at the emulator through the
    /// environment, with colour off and no inherited paysync settings.
    pub fn paysync(&self) -> Command {
        Command::from_std(self.paysync_std())
    }

    /// The same as [`World::paysync`], as a plain `std::process::Command` (to spawn).
    pub fn paysync_std(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paysync"));
        cmd.current_dir(self.dir.path());
        for var in [
            "PAYSYNC_WEBHOOK_URL",
            "PAYSYNC_PORTAL_URL",
            "PAYSYNC_ACCESS_TOKEN",
            "PAYSYNC_REFRESH_TOKEN",
            "PAYSYNC_CLIENT_ID",
            "PAYSYNC_CLIENT_SECRET",
            "PAYSYNC_OAUTH_URL",
            "PAYSYNC_STATE",
            "RUST_LOG",
            "CLICOLOR_FORCE",
            // Set when the tests themselves run in GitHub Actions.
            "GITHUB_STEP_SUMMARY",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("PAYSYNC_WEBHOOK_URL", self.portal.webhook_url());
        cmd.env("NO_COLOR", "1");
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs paysync with `args` and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> Outcome {
        let output = self.paysync().args(args).output().expect("paysync runs");
        Outcome::from(output)
    }

    /// Requests the portal received whose method is not a read.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.portal.requests()
    }

    /// The `settings.update` sub-calls (or direct calls) the portal received, in order.
    pub fn updates(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for r in self.portal.requests() {
            if r.method == "batch" {
                out.extend(
                    r.batch
                        .iter()
                        .filter(|c| c.method == "sale.paysystem.settings.update")
                        .map(|c| c.params.clone()),
                );
            } else if r.method == "sale.paysystem.settings.update" {
                out.push(r.params.clone());
            }
        }
        out
    }

    /// The stored value of a setting on the portal (no fallback).
    pub fn portal_value(&self, pay_system: u64, person_type: u64, code: &str) -> Option<String> {
        self.portal
            .setting(pay_system, person_type, code)
            .and_then(|(_, value)| value)
    }
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Outcome {
    fn from(o: std::process::Output) -> Self {
        Outcome {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// Asserts the exit code, printing both streams when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A manifest document for one target with plain settings.
pub fn manifest(pay_system: u64, person_type: u64, settings: &[(&str, &str)]) -> String {
    let mut s = format!(
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: {pay_system}\npersonType: {person_type}\nsettings:\n"
    );
    if settings.is_empty() {
        s = s.replace("settings:\n", "settings: {}\n");
    }
    for (code, value) in settings {
        s.push_str(&format!(
            "  {code}: {}\n",
            serde_json::to_string(value).unwrap()
        ));
    }
    s
}
