//! `paysync completions SHELL` and `paysync man`: shell completions and the man page,
//! generated from the clap definitions in [`crate::cli`], so they can never disagree with
//! `--help`. Both print to stdout and touch nothing else (no files, no network).

use clap::CommandFactory;
use clap_complete::Shell;

use super::steps::Context;
use crate::cli::Cli;
use crate::error::{Error, exit};

pub fn completions(shell: Shell, ctx: &Context<'_>) -> Result<i32, Error> {
    ctx.term.out(&completion_script(shell));
    Ok(exit::SUCCESS)
}

pub fn man(ctx: &Context<'_>) -> Result<i32, Error> {
    ctx.term.out(&man_page());
    Ok(exit::SUCCESS)
}

/// The completion script for `shell`.
fn completion_script(shell: Shell) -> String {
    let mut command = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut command, "paysync", &mut buf);
    String::from_utf8(buf).expect("completion scripts are UTF-8")
}

/// The man page, section 1, in roff.
fn man_page() -> String {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
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
        let page = man_page();
        assert!(page.contains(".TH"));
        assert!(page.contains("plan"));
    }
}
