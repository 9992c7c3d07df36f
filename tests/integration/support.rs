//! Test harness: a temporary working directory, a running emulator on 127.0.0.1:0, and
//! a builder for running the real `paysync` binary against them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use paysync_emulator::{EmulatorHandle, RecordedRequest, Seed};

/// The secret value used by canary tests; it must never appear in any output.
pub const CANARY: &str = "CANARY-s3cr3t-7f1d";

/// 11/1: a plain `PS_WORK_MODE_IFRAME` and the secret `env:ACME_KEY`.
pub fn acme_with_secret() -> Manifest {
    Manifest::new()
        .target(11, 1)
        .literal("PS_WORK_MODE_IFRAME", "REGULAR")
        .secret("REST_SERVICE_KEY_IFRAME", "env:ACME_KEY")
}

/// Two targets with a secret each: [`acme_with_secret`] for 11/1, and
/// `file:keys/acme12.txt` for 12/0.
pub fn secrets_manifest() -> String {
    acme_with_secret()
        .target(12, 0)
        .secret("REST_SERVICE_KEY_IFRAME", "file:keys/acme12.txt")
        .text()
}

/// One test's world: a temp dir with manifests and state, and a portal.
pub struct World {
    pub dir: tempfile::TempDir,
    pub portal: EmulatorHandle,
}

impl World {
    pub fn new() -> World {
        World::with_seed(Seed::demo())
    }

    /// A world where `m.yaml` declares 11/1 `PS_WORK_MODE_IFRAME` = `REGULAR` and an apply
    /// recorded it: the start of the tests of what a second run does.
    pub fn applied() -> World {
        let w = World::new();
        w.set_mode("REGULAR");
        w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
        w
    }

    /// Rewrites `m.yaml` to declare 11/1 `PS_WORK_MODE_IFRAME` = `mode`.
    pub fn set_mode(&self, mode: &str) {
        self.write("m.yaml", &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", mode)]));
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
    /// environment, with colour off, stdin empty and no inherited paysync settings; the
    /// one way tests run the binary:
    ///
    /// ```ignore
    /// w.cmd().env("ACME_KEY", CANARY).args(["plan", "m"]).run().expect_code(0);
    /// ```
    pub fn cmd(&self) -> Cmd {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_paysync"));
        command.current_dir(self.dir.path());
        without_paysync_env(&mut command);
        for var in [
            "RUST_LOG",
            "CLICOLOR_FORCE",
            // Set when the tests themselves run in GitHub Actions or GitLab CI (plans
            // name the commit and the run).
            "GITHUB_STEP_SUMMARY",
            "GITHUB_SHA",
            "GITHUB_SERVER_URL",
            "GITHUB_REPOSITORY",
            "GITHUB_RUN_ID",
            "CI_COMMIT_SHA",
            "CI_PIPELINE_URL",
            // A state store's (the tests set their own).
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
        ] {
            command.env_remove(var);
        }
        command.env("PAYSYNC_WEBHOOK_URL", self.portal.webhook_url());
        command.env("NO_COLOR", "1");
        command.stdin(std::process::Stdio::null());
        Cmd {
            dir: self.dir.path().to_owned(),
            command,
        }
    }

    /// Gives `command` (a shell that runs paysync, say) the environment [`World::cmd`]
    /// gives paysync: the world's portal, `NO_COLOR`, paysync's own variables and the
    /// CI's removed.
    pub fn paysync_env(&self, command: &mut std::process::Command) {
        for (k, v) in self.cmd().into_std().get_envs() {
            match v {
                Some(v) => command.env(k, v),
                None => command.env_remove(k),
            };
        }
    }

    /// Runs paysync with `args` (`w.cmd().args(args).run()`).
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.cmd().args(args).run()
    }

    /// Every method the portal ran, in order: each request's, or for a `batch`, each
    /// sub-call's, with its parameters.
    pub fn calls(&self) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        for r in self.portal.requests() {
            if r.method == "batch" {
                out.extend(r.batch.into_iter().map(|c| (c.method, c.params)));
            } else {
                out.push((r.method, r.params));
            }
        }
        out
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

/// A run of `paysync` being set up ([`World::cmd`]): arguments and environment,
/// then [`Cmd::run`] (or [`Cmd::into_std`] to spawn it).
pub struct Cmd {
    /// The world's directory, replaced by `[DIR]` in snapshots.
    dir: PathBuf,
    command: std::process::Command,
}

impl Cmd {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.command.args(args);
        self
    }

    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.command.envs(vars);
        self
    }

    /// `name` set to `value`, or removed when `value` is `None`.
    pub fn env_opt(self, name: impl AsRef<OsStr>, value: Option<impl AsRef<OsStr>>) -> Self {
        match value {
            Some(value) => self.env(name, value),
            None => self.env_remove(name),
        }
    }

    /// In `dir` instead of the world's directory.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    pub fn env_remove(mut self, name: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(name);
        self
    }

    /// With the fingerprint key `key` (`PAYSYNC_FINGERPRINT_KEY`).
    pub fn key(self, key: &str) -> Self {
        self.env("PAYSYNC_FINGERPRINT_KEY", key)
    }

    /// Against another portal: its webhook in `PAYSYNC_WEBHOOK_URL`.
    pub fn portal(self, portal: &EmulatorHandle) -> Self {
        self.env("PAYSYNC_WEBHOOK_URL", portal.webhook_url())
    }

    /// Without portal credentials.
    pub fn offline(self) -> Self {
        self.env_remove("PAYSYNC_WEBHOOK_URL")
    }

    /// Runs it to the end.
    pub fn run(self) -> Outcome {
        let Cmd { dir, mut command } = self;
        let output = command.output().expect("paysync runs");
        Outcome {
            dir: Some(dir),
            ..Outcome::from(output)
        }
    }

    /// The command as set up, to spawn (signals, terminals, memory watched while it
    /// runs).
    pub fn into_std(self) -> std::process::Command {
        self.command
    }
}

/// A finished run of the binary.
#[derive(Debug, Default)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The world's directory, when the run was in one (for [`Outcome::snapshot`]).
    pub dir: Option<PathBuf>,
}

impl From<std::process::Output> for Outcome {
    fn from(o: std::process::Output) -> Self {
        Outcome {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            dir: None,
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

    /// Asserts that no stream shows any of `secrets` (canaries).
    #[track_caller]
    pub fn assert_hides(&self, secrets: &[&str]) -> &Self {
        for secret in secrets {
            assert!(
                !self.stdout.contains(secret) && !self.stderr.contains(secret),
                "{secret} leaked\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }

    /// The whole run as a snapshot reads it: the exit code, then stdout and stderr, with
    /// what changes from run to run replaced ([`filtered`]).
    pub fn snapshot(&self) -> String {
        let text = format!(
            "exit code {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        filtered(&text, self.dir.as_deref())
    }
}

/// `text` with what changes from run to run replaced: `dir` (as given and canonical) by
/// `[DIR]`, the port of every `127.0.0.1:PORT` by `[PORT]`, and a retry's jittered wait
/// (`retrying in 1.2s`, `wait_ms=1209`) by `[WAIT]`.
pub fn filtered(text: &str, dir: Option<&Path>) -> String {
    let mut text = text.to_owned();
    if let Some(dir) = dir {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        for dir in [canonical, dir.to_owned()] {
            text = text.replace(&*dir.to_string_lossy(), "[DIR]");
        }
    }
    let text = replace_after(&text, "127.0.0.1:", "[PORT]", |c| c.is_ascii_digit());
    let text = replace_after(&text, "retrying in ", "[WAIT]", |c| c != ' ');
    replace_after(&text, "wait_ms=", "[WAIT]", |c| c.is_ascii_digit())
}

/// `text` with the run of characters `part_of` accepts right after each `marker`
/// replaced by `with` (when there is one).
fn replace_after(text: &str, marker: &str, with: &str, part_of: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let (before, after) = rest.split_at(at + marker.len());
        out.push_str(before);
        let len: usize = after
            .chars()
            .take_while(|&c| part_of(c))
            .map(char::len_utf8)
            .sum();
        if len > 0 {
            out.push_str(with);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Removes from `cmd`'s environment every PAYSYNC_* variable of the environment the tests
/// run in (credentials, the fingerprint key, the rate, the log format, a token file, ...),
/// whatever the name.
pub fn without_paysync_env(cmd: &mut std::process::Command) {
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("PAYSYNC_") {
            cmd.env_remove(var);
        }
    }
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A manifest file, built document by document: the one way tests write manifests.
///
/// ```ignore
/// Manifest::new()
///     .target(11, 1)
///     .literal("PS_WORK_MODE_IFRAME", "REGULAR")
///     .secret("REST_SERVICE_KEY_IFRAME", "env:ACME_KEY")
///     .target(12, 0)
///     .source("PAYMENT_ID", "PAYMENT", "ACCOUNT_NUMBER")
///     .text()
/// ```
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    documents: Vec<Document>,
}

/// One document: the target, then (code, value as YAML) in order.
#[derive(Debug, Clone)]
struct Document {
    pay_system: u64,
    person_type: u64,
    settings: Vec<(String, String)>,
}

impl Manifest {
    pub fn new() -> Manifest {
        Manifest::default()
    }

    /// Starts the document of one target (`settings: {}` until a setting is added).
    pub fn target(mut self, pay_system: u64, person_type: u64) -> Manifest {
        self.documents.push(Document {
            pay_system,
            person_type,
            settings: Vec::new(),
        });
        self
    }

    /// `CODE: "value"` (a literal, quoted so YAML keeps it text).
    pub fn literal(self, code: &str, value: &str) -> Manifest {
        let value = serde_json::to_string(value).unwrap();
        self.raw(code, &value)
    }

    /// Several literals.
    pub fn literals(self, settings: &[(&str, &str)]) -> Manifest {
        settings
            .iter()
            .fold(self, |m, (code, value)| m.literal(code, value))
    }

    /// `CODE: { type: SOURCE, value: "value" }`.
    pub fn source(self, code: &str, source: &str, value: &str) -> Manifest {
        let value = serde_json::to_string(value).unwrap();
        self.raw(code, &format!("{{ type: {source}, value: {value} }}"))
    }

    /// `CODE: { secret: REFERENCE }` (`env:NAME` or `file:PATH`).
    pub fn secret(self, code: &str, reference: &str) -> Manifest {
        let reference = serde_json::to_string(reference).unwrap();
        self.raw(code, &format!("{{ secret: {reference} }}"))
    }

    /// `CODE: YAML`, the value as written (for values a test wants exactly so).
    pub fn raw(mut self, code: &str, yaml: &str) -> Manifest {
        let document = self
            .documents
            .last_mut()
            .expect("target() before a setting");
        document.settings.push((code.to_owned(), yaml.to_owned()));
        self
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let documents: Vec<String> = self
            .documents
            .iter()
            .map(|d| {
                let mut doc = format!(
                    "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: {}\n\
                     personType: {}\n",
                    d.pay_system, d.person_type
                );
                doc.push_str(if d.settings.is_empty() {
                    "settings: {}\n"
                } else {
                    "settings:\n"
                });
                for (code, value) in &d.settings {
                    doc.push_str(&format!("  {code}: {value}\n"));
                }
                doc
            })
            .collect();
        documents.join("---\n")
    }
}

/// A manifest document for one target with literal settings.
pub fn manifest(pay_system: u64, person_type: u64, settings: &[(&str, &str)]) -> String {
    Manifest::new()
        .target(pay_system, person_type)
        .literals(settings)
        .text()
}

/// What a command run on a pseudo-terminal wrote there (stdout and stderr together, as a
/// person sees them; `\r` removed), and its exit code.
#[derive(Debug)]
pub struct TerminalRun {
    pub code: i32,
    pub screen: String,
}

/// Runs `cmd` with stdin, stdout and stderr on a new pseudo-terminal, as from a shell;
/// with `answer` `Some((prompt, text))`, types `text` and Enter once `prompt` shows.
/// Gives up (killing the command) after 60 seconds.
pub fn run_on_terminal(
    mut cmd: std::process::Command,
    answer: Option<(&str, &str)>,
) -> TerminalRun {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    use std::time::{Duration, Instant};

    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pseudo-terminal");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
        .open(name.to_str().expect("a UTF-8 pty name"))
        .expect("the pty's terminal side");
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().expect("paysync starts");
    // The command holds the terminal side's descriptors: closed here, so reading the
    // pty ends (EIO) once the child has exited.
    drop(cmd);

    let mut master = std::fs::File::from(master);
    let mut reader = master.try_clone().unwrap();
    let (send, chunks) = std::sync::mpsc::channel::<Vec<u8>>();
    let reading = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || send.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut screen = Vec::new();
    let mut answered = answer.is_none();
    let code = loop {
        if let Ok(chunk) = chunks.recv_timeout(Duration::from_millis(50)) {
            screen.extend(chunk);
        }
        if let Some((prompt, text)) = answer
            && !answered
            && String::from_utf8_lossy(&screen).contains(prompt)
        {
            master
                .write_all(format!("{text}\n").as_bytes())
                .expect("typing the answer");
            answered = true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after 60 s; the terminal shows:\n{}",
                String::from_utf8_lossy(&screen)
            );
        }
    };
    // What the command wrote before it exited: everything until the reader ends (EIO
    // once no process holds the terminal side), however long the reader takes to be
    // scheduled; the bound only guards against a terminal kept open by another process.
    while let Ok(chunk) = chunks.recv_timeout(Duration::from_secs(30)) {
        screen.extend(chunk);
    }
    drop(master);
    drop(chunks);
    let _ = reading.join();
    TerminalRun {
        code,
        screen: String::from_utf8_lossy(&screen).replace('\r', ""),
    }
}

/// Copies the directory `from` (files and folders below it) to `to`, created as needed.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
