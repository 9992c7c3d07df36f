//! Arguments resolved into settings: each command's arguments, with the environment
//! (`--env`) when one is selected, become in one step (`resolve`) the settings its
//! command runs with ([`Inputs`] is what plan and apply share); the state file and the
//! request rate are chosen here.

use std::path::{Path, PathBuf};

use super::args::{
    ApplyArgs, DEFAULT_STATE, DriftArgs, DriftFormat, ENV_STATE, Format, ImportArgs, InputArgs,
    MovePortalArgs, PlanArgs, PortalArgs, StateArgs, ValidateArgs, ValidateFormat,
};
use crate::bitrix::Rate;
use crate::model::{Target, TargetRef};
use crate::project::Environment;
use crate::state::StateLocation;
use crate::wording::plural;

impl StateArgs {
    /// `--state`; else the environment's; else, without an environment, `PAYSYNC_STATE`
    /// or [`DEFAULT_STATE`]. An environment's state is its own: an exported
    /// `PAYSYNC_STATE` (another environment's, say) never replaces it.
    pub fn location(&self, env: Option<&Environment>) -> StateLocation {
        self.location_from(env, std::env::var_os(ENV_STATE))
    }

    fn location_from(
        &self,
        env: Option<&Environment>,
        exported: Option<std::ffi::OsString>,
    ) -> StateLocation {
        let exported = exported.filter(|v| !v.is_empty()).map(PathBuf::from);
        match (&self.state, env) {
            (Some(given), _) => given.clone(),
            (None, Some(e)) => e.state.clone(),
            // PAYSYNC_STATE was checked before any command ran (`exported_state_error`).
            (None, None) => exported
                .and_then(|v| StateLocation::parse(v).ok())
                .unwrap_or_else(|| StateLocation::File(PathBuf::from(DEFAULT_STATE))),
        }
    }

    /// What to tell the user about the state file chosen under an environment: `--state`
    /// replacing the environment's (an explicit override, named in the output), or an
    /// exported `PAYSYNC_STATE` that is not used.
    pub fn notes(&self, env: Option<&Environment>) -> Vec<String> {
        self.notes_from(env, std::env::var_os(ENV_STATE))
    }

    /// [`StateArgs::notes`], logged (for the commands that show no plan).
    pub fn log_notes(&self, env: Option<&Environment>) {
        for note in self.notes(env) {
            tracing::warn!("{note}");
        }
    }

    fn notes_from(
        &self,
        env: Option<&Environment>,
        exported: Option<std::ffi::OsString>,
    ) -> Vec<String> {
        let Some(env) = env else {
            return Vec::new();
        };
        let mut notes = Vec::new();
        if let Some(given) = self.state.as_ref().filter(|given| **given != env.state) {
            notes.push(format!(
                "--state {} replaces environment {}'s state file {}",
                given, env.name, env.state
            ));
        }
        if let Some(exported) = exported
            .filter(|v| !v.is_empty())
            .filter(|v| StateLocation::parse(PathBuf::from(v)).ok().as_ref() != Some(&env.state))
        {
            notes.push(format!(
                "{ENV_STATE}={} is not used: environment {} keeps its state in {} (--state \
                 FILE overrides it)",
                Path::new(&exported).display(),
                env.name,
                env.state
            ));
        }
        notes
    }
}

/// Why `PAYSYNC_STATE` (read without an environment) names no state, if it does not.
pub fn exported_state_error() -> Option<crate::state::LocationError> {
    let value = std::env::var_os(ENV_STATE).filter(|v| !v.is_empty())?;
    StateLocation::parse(PathBuf::from(value)).err()
}

impl PortalArgs {
    /// `--rate`, else the environment's, else 50/2.
    pub fn rate(&self, env: Option<&Environment>) -> Rate {
        self.rate
            .or_else(|| env.and_then(|e| e.rate))
            .unwrap_or_default()
    }
}

/// What plan and apply run with, resolved from [`InputArgs`].
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub paths: Vec<PathBuf>,
    /// Whether each path is a source of its own, later ones patching earlier ones (an
    /// environment's `sources`); otherwise all paths are one source.
    pub layered: bool,
    /// PATHs given with `--env`: only the targets their documents declare, from the
    /// environment's layered sources (`paths`).
    pub subset: Option<Vec<PathBuf>>,
    pub state: StateLocation,
    /// What to say about the state file chosen ([`StateArgs::notes`]).
    pub notes: Vec<String>,
    pub refresh: bool,
    pub rate: Rate,
    pub format: Format,
    /// `--target`: only these targets (empty: all).
    pub targets: Vec<TargetRef>,
    /// The environment (`--env`), when there is one.
    pub environment: Option<String>,
    /// Requests in flight at once (`--parallelism`).
    pub parallelism: usize,
}

impl InputArgs {
    /// The inputs, in `env` when one is selected: its sources (PATHs select a subset of
    /// their targets), its state unless `--state`, its rate unless `--rate`.
    pub fn resolve(&self, env: Option<&Environment>, parallelism: usize) -> Inputs {
        let (paths, layered, subset) = sources(&self.paths, env);
        Inputs {
            paths,
            layered,
            subset,
            state: self.state.location(env),
            notes: self.state.notes(env),
            refresh: self.refresh,
            rate: self.portal.rate(env),
            format: self.format,
            targets: self.targets.clone(),
            environment: env.map(|e| e.name.clone()),
            parallelism,
        }
    }
}

/// The manifest sources: an environment's, layered, with the PATHs given (if any) as the
/// subset to plan; without an environment, the PATHs as one source.
fn sources(
    given: &[PathBuf],
    env: Option<&Environment>,
) -> (Vec<PathBuf>, bool, Option<Vec<PathBuf>>) {
    let default_paths = given == [PathBuf::from(".")];
    match env {
        Some(e) if default_paths => (e.sources.clone(), true, None),
        Some(e) => (e.sources.clone(), true, Some(given.to_vec())),
        None => (given.to_vec(), false, None),
    }
}

/// `paysync plan`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSettings {
    pub inputs: Inputs,
    pub out: Option<PathBuf>,
    pub detailed_exitcode: bool,
    /// Read `exec:` secrets too (`--resolve-secrets`).
    pub resolve_secrets: bool,
    /// Where to write the plan as pull-request comments (`--comment-parts`).
    pub comment_parts: Option<PathBuf>,
}

impl PlanArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> PlanSettings {
        PlanSettings {
            inputs: self.inputs.resolve(env, self.parallel.parallelism),
            out: self.out.clone(),
            detailed_exitcode: self.detailed_exitcode,
            resolve_secrets: self.resolve_secrets,
            comment_parts: self.comment_parts.clone(),
        }
    }
}

/// `paysync apply`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplySettings {
    pub inputs: Inputs,
    /// A saved plan to apply instead of the manifests.
    pub plan: Option<PathBuf>,
    pub auto_approve: bool,
    /// The environment is `protected`: apply only from a saved plan.
    pub protected: bool,
    /// Read back what was written and compare.
    pub verify: bool,
    /// Write requests in flight at once (`--parallelism`, at least 1).
    pub parallelism: usize,
    /// How long to wait for the state's lock (`--lock-timeout`).
    pub lock_timeout: std::time::Duration,
}

impl ApplyArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> ApplySettings {
        ApplySettings {
            inputs: self.inputs.resolve(env, self.parallel.parallelism),
            plan: self.plan.clone(),
            auto_approve: self.auto_approve,
            protected: env.is_some_and(|e| e.protected),
            verify: self.verify,
            parallelism: self.parallel.parallelism,
            lock_timeout: self.lock.lock_timeout,
        }
    }
}

/// `paysync validate`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidateSettings {
    pub paths: Vec<PathBuf>,
    /// See [`Inputs::layered`].
    pub layered: bool,
    /// See [`Inputs::subset`].
    pub subset: Option<Vec<PathBuf>>,
    pub live: bool,
    /// Resolve every secret reference (`--secrets`).
    pub secrets: bool,
    pub rate: Rate,
    pub format: ValidateFormat,
    pub environment: Option<String>,
}

impl ValidateArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> ValidateSettings {
        let (paths, layered, subset) = sources(&self.paths, env);
        ValidateSettings {
            paths,
            layered,
            subset,
            live: self.live,
            secrets: self.secrets,
            rate: self.portal.rate(env),
            format: self.format,
            environment: env.map(|e| e.name.clone()),
        }
    }
}

/// `paysync drift`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftSettings {
    pub state: StateLocation,
    pub rate: Rate,
    /// Read requests in flight at once (`--parallelism`).
    pub parallelism: usize,
    pub format: DriftFormat,
    pub environment: Option<String>,
}

impl DriftArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> DriftSettings {
        self.state.log_notes(env);
        DriftSettings {
            state: self.state.location(env),
            rate: self.portal.rate(env),
            parallelism: self.parallel.parallelism,
            format: self.format,
            environment: env.map(|e| e.name.clone()),
        }
    }
}

/// `paysync state move-portal`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MovePortalSettings {
    /// The new address as given (checked by the command).
    pub url: String,
    pub state: StateLocation,
    pub rate: Rate,
    pub lock_timeout: std::time::Duration,
}

impl MovePortalArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> MovePortalSettings {
        self.state.log_notes(env);
        MovePortalSettings {
            url: self.url.clone(),
            state: self.state.location(env),
            rate: self.portal.rate(env),
            lock_timeout: self.lock.lock_timeout,
        }
    }
}

/// Arguments clap accepts but that do not make sense together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error(
        "--pay-system was given {} and --person-type {}; give them in pairs (or use \
         --target PAY_SYSTEM:PERSON_TYPE)",
        plural(*pay_systems, "time"),
        plural(*person_types, "time")
    )]
    UnpairedTargets {
        pay_systems: usize,
        person_types: usize,
    },
    /// `--secret-ref-template` that does not make valid references.
    #[error("--secret-ref-template {0}")]
    SecretTemplate(String),
    /// `paysync man NAME` for a command paysync does not have.
    #[error("paysync has no command `{name}`, so no page for it (see `paysync --help`)")]
    NoSuchCommand { name: String },
}

/// `paysync import`, resolved: the targets named (pairs and `--target`, in order).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSettings {
    pub targets: Vec<Target>,
    pub all: bool,
    pub out: PathBuf,
    pub force: bool,
    /// Setting codes also treated as secrets, upper-cased.
    pub secrets: Vec<String>,
    pub include_inherited: bool,
    pub adopt: bool,
    pub state: StateLocation,
    pub rate: Rate,
    pub schema_ref: String,
    /// Write `xmlId` references instead of IDs where the portal has them.
    pub portable: bool,
    pub lock_timeout: std::time::Duration,
    /// Read requests in flight at once (`--parallelism`).
    pub parallelism: usize,
    /// How secrets are referenced (`--secret-ref-template`).
    pub secret_template: crate::secrets::template::RefTemplate,
}

impl ImportArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> Result<ImportSettings, ArgsError> {
        if self.pay_system.len() != self.person_type.len() {
            return Err(ArgsError::UnpairedTargets {
                pay_systems: self.pay_system.len(),
                person_types: self.person_type.len(),
            });
        }
        let mut targets: Vec<Target> = self
            .pay_system
            .iter()
            .zip(&self.person_type)
            .map(|(ps, pt)| Target {
                pay_system: *ps,
                person_type: *pt,
            })
            .collect();
        targets.extend(self.target.iter().copied());
        let secret_template = match &self.secret_ref_template {
            Some(text) => {
                crate::secrets::template::RefTemplate::new(text, env.map(|e| e.name.as_str()))
                    .map_err(ArgsError::SecretTemplate)?
            }
            None => crate::secrets::template::RefTemplate::default(),
        };
        self.state.log_notes(env);
        Ok(ImportSettings {
            targets,
            all: self.all,
            out: self.out.clone(),
            force: self.force,
            secrets: self.secrets.iter().map(|c| c.to_uppercase()).collect(),
            include_inherited: self.include_inherited,
            adopt: self.adopt,
            state: self.state.location(env),
            rate: self.portal.rate(env),
            schema_ref: self.schema_ref.clone(),
            portable: self.portable,
            lock_timeout: self.lock.lock_timeout,
            parallelism: self.parallel.parallelism,
            secret_template,
        })
    }
}
