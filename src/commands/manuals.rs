//! `paysync completions SHELL` and `paysync man`: shell completions and the man pages
//! (one per command: `paysync(1)`, `paysync-plan(1)`, `paysync-state-move-portal(1)`,
//! ...), generated from the clap definitions in [`crate::cli`], so they can never
//! disagree with `--help`. They print to stdout; only `man --dir DIR` writes files (the
//! pages, into DIR). No network.

use std::path::{Path, PathBuf};

use clap_complete::Shell;

use super::steps::Context;
use crate::cli::{ArgsError, ManArgs};
use crate::error::{Error, exit};

pub fn completions(shell: Shell, ctx: &Context<'_>) -> Result<i32, Error> {
    ctx.term.out(&completion_script(shell));
    Ok(exit::SUCCESS)
}

/// `paysync man`: paysync's page, a subcommand's (`man state move-portal`), or every
/// page written into `--dir` (their paths on stdout, one a line).
pub fn man(args: &ManArgs, ctx: &Context<'_>) -> Result<i32, Error> {
    if let Some(dir) = &args.dir {
        for path in write_pages(dir)? {
            ctx.term.out(&format!("{}\n", path.display()));
        }
        return Ok(exit::SUCCESS);
    }
    let command = find(&args.command)?;
    ctx.term.out(&render(command));
    Ok(exit::SUCCESS)
}

/// The command line's definition, built (so every subcommand carries the global options
/// and its display name, `paysync-state-move-portal`), without clap's `help` subcommand.
fn built() -> clap::Command {
    let mut command = crate::cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The command `path` names (`[]` is paysync itself, `["state", "move-portal"]`).
fn find(path: &[String]) -> Result<clap::Command, Error> {
    let mut command = built();
    for (i, name) in path.iter().enumerate() {
        command =
            command
                .find_subcommand(name)
                .cloned()
                .ok_or_else(|| ArgsError::NoSuchCommand {
                    name: path[..=i].join(" "),
                })?;
    }
    Ok(command)
}

/// paysync and every subcommand, nested ones too, parents first.
fn every_command() -> Vec<clap::Command> {
    fn walk(command: clap::Command, out: &mut Vec<clap::Command>) {
        let subcommands: Vec<clap::Command> = command.get_subcommands().cloned().collect();
        out.push(command);
        for sub in subcommands {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(built(), &mut out);
    out
}

/// The page's file name: `paysync.1`, `paysync-plan.1`.
fn file_name(command: &clap::Command) -> String {
    format!(
        "{}.1",
        command.get_display_name().unwrap_or(command.get_name())
    )
}

/// Writes every page into `dir` (created if missing), readable by all as installed man
/// pages are (not through `files::write_atomically`, whose new files are private);
/// returns their paths.
fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |error| Error::Write { path, error }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let mut written = Vec::new();
    for command in every_command() {
        let path = dir.join(file_name(&command));
        std::fs::write(&path, render(command)).map_err(write_error(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// The completion script for `shell`.
fn completion_script(shell: Shell) -> String {
    let mut command = crate::cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut command, "paysync", &mut buf);
    String::from_utf8(buf).expect("completion scripts are UTF-8")
}

/// The man page of `command`, section 1, in roff.
fn render(command: clap::Command) -> String {
    let mut buf = Vec::new();
    clap_mangen::Man::new(command)
        .source(concat!("paysync ", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)
        .expect("rendering into memory does not fail");
    String::from_utf8(buf).expect("the man page is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_paysync() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::PowerShell,
            Shell::Elvish,
        ] {
            assert!(completion_script(shell).contains("paysync"), "{shell}");
        }
    }

    #[test]
    fn man_page_is_roff_with_the_subcommands() {
        let page = render(built());
        assert!(page.contains(".TH"));
        assert!(page.contains("plan"));
    }

    #[test]
    fn every_command_has_a_page_named_after_it() {
        let names: Vec<String> = every_command().iter().map(file_name).collect();
        for name in [
            "paysync.1",
            "paysync-plan.1",
            "paysync-apply.1",
            "paysync-state.1",
            "paysync-state-move-portal.1",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
        assert!(find(&["state".into(), "nope".into()]).is_err());
    }
}
