//! The commands, one file each ([`steps`] holds what they share), and the dispatch.
//!
//! `main.rs` parses the arguments and calls [`run`], which dispatches to a command. A
//! command resolves its arguments ([`crate::cli`]), does its work through the layers below
//! (manifests, state, planner, live reads, apply) and decides what is shown, through the
//! [`Terminal`] only. Errors are rendered here, once.
//!
//! Commands reach the portal through their [`Context`]: the credentials in the
//! environment, or a client the caller configured (tests and benchmarks run the real
//! command path with a virtual clock or exact retries).
//!
//! Nothing below this module imports it.

pub mod apply;
pub mod auth;
pub mod drift;
pub mod import;
pub mod manuals;
pub mod plan;
mod prepare;
pub mod schema;
pub mod show;
pub mod state;
mod steps;
pub mod validate;

pub use steps::{Context, Portal};

use crate::cli::{AuthCommand, Cli, Command, EnvCommand, StateCommand};
use crate::error::{Error, UsageError};
use crate::project::{self, Environment, Project};
use crate::render::terminal::Terminal;

/// Runs one command and returns its exit code; errors are rendered here.
///
/// Commands that may take time take over SIGINT and SIGTERM ([`crate::interrupt`]): the
/// first stops them cleanly, with exit code 130 or 143 (whatever else went wrong), the
/// second at once.
pub fn run(cli: Cli, term: &Terminal) -> i32 {
    let (uses_project, takes_signals) = needs(&cli.command);
    if takes_signals {
        crate::interrupt::install();
    }
    let result = environment(&cli, uses_project).and_then(|(project, env)| {
        if let (Command::Env(EnvCommand::List), Some(project)) = (&cli.command, &project) {
            term.out(&crate::render::environments::list(project));
            return Ok(crate::error::exit::SUCCESS);
        }
        if let (Command::Validate(_), Some(project), Some(_)) = (&cli.command, &project, &env) {
            warn_unpinned(project);
        }
        let env = env.as_ref();
        let ctx = Context {
            term,
            portal: match env {
                Some(e) => Portal::Named {
                    vars: crate::variables::Variables::of_environment(&e.name, &e.credentials),
                    pin: e.portal.clone(),
                },
                None => Portal::Environment,
            },
            secrets: crate::secrets::exec::ExecContext {
                commands: std::sync::Arc::new(
                    project.as_ref().map(|p| p.exec.clone()).unwrap_or_default(),
                ),
                environment: env.map(|e| e.name.clone()),
                portal: env.and_then(|e| e.portal.clone()),
            },
        };
        dispatch(cli.command, env, &ctx)
    });
    let signal = crate::interrupt::received();
    match (result, signal) {
        (Ok(code), None) => code,
        (Ok(_), Some(signal)) => {
            let code = signal.exit_code();
            term.message(
                "ERROR",
                &format!("stopped by {signal}\n"),
                serde_json::json!({ "exit_code": code }),
            );
            code
        }
        (Err(e), signal) => {
            let code = signal.map_or_else(|| e.exit_code(), crate::interrupt::Signal::exit_code);
            show_error(&e, code, term);
            code
        }
    }
}

/// The environment the command works on: `--env NAME` (or `PAYSYNC_ENV`) of the project
/// file (`--project`, or paysync.yaml found from the current directory upward). Without
/// a project file there is none and everything works as without environments; with one,
/// the commands that use a state or a portal need `--env`.
fn environment(
    cli: &Cli,
    uses_project: bool,
) -> Result<(Option<Project>, Option<Environment>), Error> {
    if !uses_project {
        return Ok((None, None));
    }
    let path = match &cli.global.project {
        Some(path) => Some(path.clone()),
        None => std::env::current_dir()
            .ok()
            .and_then(|dir| project::find(&dir)),
    };
    let project = match path {
        Some(path) => Some(project::load(&path).map_err(Error::Manifests)?),
        None => None,
    };
    match (&cli.global.env, project, &cli.command) {
        (_, Some(project), Command::Env(_)) => Ok((Some(project), None)),
        (_, None, Command::Env(_)) => Err(UsageError::NoProject.into()),
        (Some(name), Some(project), _) => match project.environments.get(name).cloned() {
            Some(env) => Ok((Some(project), Some(env))),
            None => Err(UsageError::UnknownEnvironment {
                project: project.path.clone(),
                name: name.clone(),
                names: project.names(),
            }
            .into()),
        },
        (Some(name), None, _) => Err(UsageError::EnvWithoutProject { name: name.clone() }.into()),
        (None, Some(project), _) => Err(UsageError::EnvironmentNeeded {
            project: project.path.clone(),
            names: project.names(),
        }
        .into()),
        (None, None, _) => Ok((None, None)),
    }
}

/// What a command needs around it: the project file (its environments), and the
/// signal handlers (commands that may take time stop cleanly at SIGINT/SIGTERM). Every
/// command is listed: a new one must say both.
fn needs(command: &Command) -> (bool, bool) {
    match command {
        Command::Plan(_)
        | Command::Apply(_)
        | Command::Drift(_)
        | Command::Import(_)
        | Command::State(_)
        | Command::Auth(_)
        // A project's manifests are layered per environment: validating them needs one.
        | Command::Validate(_)
        | Command::Env(_) => (true, true),
        Command::Schema(_) | Command::Completions(_) | Command::Man(_) | Command::Show(_) => {
            (false, false)
        }
    }
}

/// `validate` of a project: a warning for each environment that can write (it maps
/// credentials) but pins no portal, so nothing stops its credentials from pointing at
/// another environment's portal.
fn warn_unpinned(project: &Project) {
    for e in project.environments.values() {
        if e.portal.is_none() && !e.credentials.is_empty() {
            tracing::warn!(
                "{}:{}:{}: environment {} maps credentials but pins no portal: add `portal: \
                 https://<its portal>` so that credentials of another portal are refused",
                e.origin.file.display(),
                e.origin.line,
                e.origin.column,
                crate::untrusted::escape_controls(&e.name)
            );
        }
    }
}

fn dispatch(command: Command, env: Option<&Environment>, ctx: &Context<'_>) -> Result<i32, Error> {
    let ctx = ctx.clone();
    // PAYSYNC_STATE names the state of the commands that use one, without an environment.
    let uses_state = matches!(
        command,
        Command::Plan(_)
            | Command::Apply(_)
            | Command::Drift(_)
            | Command::Import(_)
            | Command::State(_)
    );
    if uses_state
        && env.is_none()
        && let Some(error) = crate::cli::exported_state_error()
    {
        return Err(UsageError::ExportedState(error).into());
    }
    match command {
        Command::Validate(args) => validate::run(&args.resolve(env), &ctx),
        Command::Plan(args) => plan::run(&args.resolve(env), &ctx),
        Command::Apply(args) => apply::run(&args.resolve(env), &ctx),
        Command::Drift(args) => drift::run(&args.resolve(env), &ctx),
        Command::Import(args) => args
            .resolve(env)
            .map_err(Error::from)
            .and_then(|settings| import::run(&settings, &ctx)),
        Command::State(StateCommand::Pull(args)) => state::pull(&args.state.location(env), &ctx),
        Command::State(StateCommand::Push(args)) => state::push(
            &args.file,
            args.force,
            &args.state.location(env),
            args.lock.lock_timeout,
            &ctx,
        ),
        Command::State(StateCommand::Migrate(args)) => state::migrate(
            &args.state.location(env),
            &args.to,
            args.lock.lock_timeout,
            &ctx,
        ),
        Command::State(StateCommand::List(args)) => {
            state::list(&args.state.location(env), args.format, &ctx)
        }
        Command::State(StateCommand::Unlock(args)) => {
            state::unlock(&args.state.location(env), &args.id, &ctx)
        }
        Command::State(StateCommand::History(args)) => {
            state::history(&args.state.location(env), args.format, &ctx)
        }
        Command::State(StateCommand::MovePortal(args)) => {
            state::move_portal(&args.resolve(env), &ctx)
        }
        Command::Env(EnvCommand::List) => Ok(crate::error::exit::SUCCESS), // handled above
        Command::Auth(AuthCommand::Refresh(args)) => auth::refresh(&args, &ctx),
        Command::Completions(args) => manuals::completions(args.shell, &ctx),
        Command::Man(args) => manuals::man(&args, &ctx),
        Command::Schema(args) => schema::run(args.kind, &ctx),
        Command::Show(args) => match &args.plan {
            Some(plan) => show::run(plan, args.format, args.comment_parts.as_deref(), &ctx),
            None => show::rollup(&args.rollup, &args.failed, &args.pending, args.format, &ctx),
        },
    }
}

/// An error on stderr: located diagnostics for manifests, otherwise its message, which
/// names its cause ([`crate::error`]: each cause is said once). With JSON messages,
/// one object a line: a diagnostic each, or the error.
fn show_error(e: &Error, code: i32, term: &Terminal) {
    match e {
        Error::Manifests(diags) if term.json_messages() => {
            term.err(&crate::render::diagnostics::json_lines(diags));
        }
        Error::Manifests(diags) => {
            term.err(&crate::render::diagnostics::render(
                diags,
                term.color_stderr(),
            ));
        }
        e => term.message(
            "ERROR",
            &format!("error: {e}\n"),
            serde_json::json!({ "exit_code": code }),
        ),
    }
}
