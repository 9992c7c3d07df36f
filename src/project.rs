//! The project file, `paysync.yaml`: the named environments of one repository (a test
//! portal and production, say), each with its manifest sources in order, its own state
//! file, the environment variables that hold its credentials, its `--rate` and whether
//! it is protected.
//!
//! ```yaml
//! apiVersion: paysync/v1
//! kind: Project
//! environments:
//!   test:
//!     portal: https://shop-test.bitrix24.com
//!     sources: [manifests, envs/test]
//!     state: state/test.state.json
//!     credentials: { PAYSYNC_WEBHOOK_URL: TEST_WEBHOOK_URL }
//!   prod:
//!     portal: https://shop.bitrix24.com
//!     sources: [manifests, envs/prod]
//!     state: state/prod.state.json
//!     credentials: { PAYSYNC_WEBHOOK_URL: PROD_WEBHOOK_URL }
//!     protected: true
//! ```
//!
//! Under an environment, paysync reads its credentials and fingerprint key **only**
//! through `credentials` (a variable it does not map is not read under any name:
//! [`crate::variables`]), and `portal` pins the portal those credentials may
//! point at (the AWS provider's `allowed_account_ids`: right credentials, wrong account).
//!
//! Paths are relative to the project file. The file is found from the current directory
//! upward, or given with `--project FILE`. Reading it is the only I/O here; every problem
//! is a located diagnostic, like a manifest's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_saphyr::MessageFormatter;

use crate::bitrix::Rate;
use crate::manifest::{Code, Diagnostic, Diagnostics};
use crate::model::Origin;

/// The project file's name.
pub const PROJECT_FILE: &str = "paysync.yaml";
/// Its `kind`.
pub const KIND: &str = "Project";
/// The largest project file read.
const MAX_PROJECT_BYTES: u64 = 1 << 20;

/// A paysync project: named environments (test and production portals, say), each with its manifest sources, state file and credentials.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "paysync project")]
pub struct RawProject {
    /// Format version: `paysync/v1`.
    #[serde(deserialize_with = "api_version")]
    #[schemars(with = "String", extend("const" = "paysync/v1"))]
    pub api_version: String,
    /// `Project`.
    #[serde(deserialize_with = "kind")]
    #[schemars(with = "String", extend("const" = "Project"))]
    pub kind: String,
    /// Environment name → environment.
    #[schemars(with = "BTreeMap<String, RawEnvironment>")]
    pub environments: BTreeMap<String, serde_saphyr::Spanned<RawEnvironment>>,
    /// Where secrets that are neither variables nor files come from.
    #[serde(default)]
    pub secrets: RawSecrets,
}

/// `secrets:` of the project file.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecrets {
    /// Commands that answer `exec:NAME` references: NAME (letters, digits, `_`, `-`) → the command. Each gets a JSON request on stdin (`{"reference", "name", "argument", "environment", "portal"}`) and answers `{"value": "..."}` on stdout. Run by `apply`, and by `plan` only with `--resolve-secrets`: a pull-request plan never runs one.
    #[serde(default, deserialize_with = "exec_commands")]
    #[schemars(with = "BTreeMap<String, RawExec>")]
    pub exec: BTreeMap<String, RawExec>,
}

/// One command of `secrets.exec`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExec {
    /// The program and its arguments (argv, no shell), e.g. `[op, read, --no-newline]`.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// How long it may take, e.g. `10s` (default 10s); past it, it is stopped.
    #[serde(default, deserialize_with = "duration")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<std::time::Duration>,
}

fn exec_commands<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, RawExec>, D::Error> {
    let commands = BTreeMap::<String, RawExec>::deserialize(d)?;
    for (name, command) in &commands {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(serde::de::Error::custom(format!(
                "`secrets.exec`: {name:?} is not a command name (letters, digits, `_`, `-`)"
            )));
        }
        if command.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(serde::de::Error::custom(format!(
                "`secrets.exec.{name}.command` names a program and its arguments"
            )));
        }
    }
    Ok(commands)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .ok()
        .filter(|t| !t.is_zero() && *t <= std::time::Duration::from_secs(3600))
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`timeout`: {text:?} is not a duration between 1ms and 1h, such as 10s"
            ))
        })
}

/// One environment: one portal, its manifests and its state.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    /// The portal this environment writes to, e.g. `https://shop-test.bitrix24.com` (only the scheme, host and port count): credentials that point at another portal (the webhook URL, the OAuth portal URL, a token file's client_endpoint) are refused before the first request.
    #[serde(default, deserialize_with = "portal")]
    #[schemars(with = "Option<String>", extend("format" = "uri"))]
    pub portal: Option<String>,
    /// Manifest files or directories, in order, relative to the project file; a later source may patch the targets of an earlier one.
    #[serde(deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub sources: Vec<String>,
    /// Where the environment's state is: a file (relative to the project file), `s3://BUCKET/KEY` (an S3-compatible store) or the https:// address of a Terraform-HTTP-backend service such as GitLab-managed state.
    #[serde(deserialize_with = "state")]
    pub state: String,
    /// paysync's variable (PAYSYNC_WEBHOOK_URL, PAYSYNC_PORTAL_URL, PAYSYNC_ACCESS_TOKEN, PAYSYNC_REFRESH_TOKEN, PAYSYNC_CLIENT_ID, PAYSYNC_CLIENT_SECRET, PAYSYNC_OAUTH_URL, PAYSYNC_TOKEN_FILE, PAYSYNC_FINGERPRINT_KEY; the state store's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, PAYSYNC_STATE_USERNAME, PAYSYNC_STATE_PASSWORD; the secret sources' SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE) → the environment variable that holds it for this environment. Only mapped variables are read: one this environment does not map is not read under any name (map `PAYSYNC_WEBHOOK_URL: PAYSYNC_WEBHOOK_URL` to use paysync's own name); an empty variable counts as not set.
    #[serde(default, deserialize_with = "variables")]
    #[schemars(schema_with = "credentials_schema")]
    pub credentials: BTreeMap<String, String>,
    /// The portal's request-rate limit, as `--rate` (CAPACITY/PER_SECOND).
    #[serde(default, deserialize_with = "rate")]
    #[schemars(with = "Option<String>")]
    pub rate: Option<Rate>,
    /// Apply only from a saved plan (`apply --plan`), never with `--auto-approve` alone.
    #[serde(default)]
    pub protected: bool,
}

fn api_version<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    if v != "paysync/v1" {
        return Err(serde::de::Error::custom(format!(
            "unsupported apiVersion {v:?}; expected `paysync/v1`"
        )));
    }
    Ok(v)
}

fn kind<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    if v != KIND {
        return Err(serde::de::Error::custom(format!(
            "unknown kind {v:?}; a project file has `kind: {KIND}`"
        )));
    }
    Ok(v)
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    if v.is_empty() || v.iter().any(|s| s.trim().is_empty()) {
        return Err(serde::de::Error::custom(
            "`sources` lists at least one manifest file or directory, none empty",
        ));
    }
    Ok(v)
}

/// paysync's variables an environment's `credentials` may map: the portal's credentials,
/// the fingerprint key and the state store's ([`crate::state::STORE_VARIABLES`]).
const MAPPED: [&str; 23] = [
    crate::bitrix::credentials::ENV_WEBHOOK_URL,
    crate::bitrix::credentials::ENV_PORTAL_URL,
    crate::bitrix::credentials::ENV_ACCESS_TOKEN,
    crate::bitrix::credentials::ENV_REFRESH_TOKEN,
    crate::bitrix::credentials::ENV_CLIENT_ID,
    crate::bitrix::credentials::ENV_CLIENT_SECRET,
    crate::bitrix::credentials::ENV_OAUTH_URL,
    crate::bitrix::credentials::ENV_TOKEN_FILE,
    crate::fingerprint::ENV_FINGERPRINT_KEY,
    crate::state::s3::store::ENV_ACCESS_KEY_ID,
    crate::state::s3::store::ENV_SECRET_ACCESS_KEY,
    crate::state::s3::store::ENV_SESSION_TOKEN,
    crate::state::s3::store::ENV_REGION,
    crate::state::s3::store::ENV_DEFAULT_REGION,
    crate::state::s3::store::ENV_ENDPOINT_URL_S3,
    crate::state::s3::store::ENV_ENDPOINT_URL,
    crate::state::http::ENV_USERNAME,
    crate::state::http::ENV_PASSWORD,
    crate::secrets::sops::ENV_AGE_KEY_FILE,
    crate::secrets::sops::ENV_AGE_KEY,
    crate::secrets::vault::ENV_ADDR,
    crate::secrets::vault::ENV_TOKEN,
    crate::secrets::vault::ENV_NAMESPACE,
];

/// The schema of `credentials`: paysync's variables ([`MAPPED`]) → variable names.
fn credentials_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "enum": MAPPED },
        "additionalProperties": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
    })
}

fn variables<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let v = BTreeMap::<String, String>::deserialize(d)?;
    let name = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    for (ours, theirs) in &v {
        // Only the variables an environment can hold its own of: a misspelt one would be
        // ignored, and the portal's variable read under paysync's name instead.
        if !MAPPED.contains(&ours.as_str()) {
            return Err(serde::de::Error::custom(format!(
                "{ours:?} is not one of paysync's variables an environment maps{}: {}",
                crate::wording::did_you_mean(ours, MAPPED),
                MAPPED.join(", ")
            )));
        }
        if !name(theirs) {
            return Err(serde::de::Error::custom(format!(
                "{theirs:?} is not an environment variable name (letters, digits and `_`)"
            )));
        }
    }
    Ok(v)
}

fn portal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    crate::bitrix::portal_address(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("`portal`: {e}")))
}

fn state<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    crate::state::StateLocation::parse(text.as_str())
        .map(|_| text)
        .map_err(|e| serde::de::Error::custom(format!("`state`: {e}")))
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rate>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse::<Rate>()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("`rate`: {e}")))
}

/// An environment, ready to use: paths resolved against the project file's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    /// The portal the environment pins (`scheme://host[:port]`), if any.
    pub portal: Option<String>,
    /// Where the environment is declared in the project file.
    pub origin: Origin,
    pub sources: Vec<PathBuf>,
    pub state: crate::state::StateLocation,
    pub credentials: BTreeMap<String, String>,
    pub rate: Option<Rate>,
    pub protected: bool,
}

/// A project file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub path: PathBuf,
    pub environments: BTreeMap<String, Environment>,
    /// The commands `exec:` references ask (`secrets.exec`).
    pub exec: BTreeMap<String, crate::secrets::exec::ExecCommand>,
}

/// The project file for the directory `start`: `paysync.yaml` there, else the nearest in
/// a parent, as a path relative to `start` (`paysync.yaml`, `../paysync.yaml`), so that
/// the paths it names stay relative too (in messages, plans and the state).
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut relative = PathBuf::new();
    for dir in start.ancestors() {
        if dir.join(PROJECT_FILE).is_file() {
            return Some(relative.join(PROJECT_FILE));
        }
        relative.push("..");
    }
    None
}

/// Reads and checks a project file.
pub fn load(path: &Path) -> Result<Project, Diagnostics> {
    let located = |line: usize, column: usize, message: String| {
        Diagnostics(vec![Diagnostic::new(
            Code::InvalidValue,
            Origin {
                file: path.into(),
                line: Origin::narrow(line),
                column: Origin::narrow(column),
                len: 0,
            },
            message,
        )])
    };
    let bytes = crate::files::read_regular(path, MAX_PROJECT_BYTES)
        .map_err(|e| located(1, 1, format!("cannot read the project file: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| located(1, 1, "the project file is not UTF-8 text".to_owned()))?;
    let raw: RawProject = serde_saphyr::from_str(&text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| {
                let at = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).max(1);
                (at(l.line()), at(l.column()))
            })
            .unwrap_or((1, 1));
        let mut root = &e;
        while let serde_saphyr::Error::WithSnippet { error, .. } = root {
            root = error;
        }
        let message = serde_saphyr::UserMessageFormatter.format_message(root);
        located(
            line,
            column,
            format!(
                "invalid project file: {}",
                crate::untrusted::escape_controls(&message)
            ),
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let join = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() || dir.as_os_str().is_empty() {
            p.to_owned()
        } else {
            dir.join(p)
        }
    };
    let environments = raw
        .environments
        .into_iter()
        .map(|(name, spanned)| {
            let at = |n: u64| Origin::narrow(usize::try_from(n).unwrap_or(usize::MAX).max(1));
            let origin = Origin {
                file: path.into(),
                line: at(spanned.referenced.line()),
                column: at(spanned.referenced.column()),
                len: 0,
            };
            let e = spanned.value;
            let state = crate::state::StateLocation::parse_in(&e.state, dir).map_err(|error| {
                located(
                    origin.line as usize,
                    origin.column as usize,
                    format!("environment {name}: `state`: {error}"),
                )
            })?;
            let environment = Environment {
                name: name.clone(),
                portal: e.portal,
                origin,
                sources: e.sources.iter().map(|s| join(s)).collect(),
                state,
                credentials: e.credentials,
                rate: e.rate,
                protected: e.protected,
            };
            Ok((name, environment))
        })
        .collect::<Result<_, Diagnostics>>()?;
    let exec = raw
        .secrets
        .exec
        .into_iter()
        .map(|(name, c)| {
            let command = crate::secrets::exec::ExecCommand {
                argv: c.command,
                timeout: c.timeout.unwrap_or(crate::secrets::exec::DEFAULT_TIMEOUT),
            };
            (name, command)
        })
        .collect();
    Ok(Project {
        path: path.to_owned(),
        environments,
        exec,
    })
}

impl Project {
    /// The environments' names, comma-separated.
    pub fn names(&self) -> String {
        self.environments
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The project file's JSON Schema (`schema/project.schema.json`).
pub fn json_schema() -> serde_json::Value {
    crate::manifest::reader_order(
        schemars::generate::SchemaSettings::draft2020_12()
            .for_deserialize()
            .into_generator()
            .into_root_schema_for::<RawProject>()
            .to_value(),
    )
}
