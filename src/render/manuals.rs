//! Shell completions and the man page, generated from the clap definitions in
//! [`crate::cli`], so they can never disagree with `--help`. Both print to stdout and touch
//! nothing else (no files, no network).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::{Error, exit};
use crate::render::terminal::Terminal;

/// Arguments of `paysync completions`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paysync completions bash > ~/.local/share/bash-completion/completions/paysync\n  \
paysync completions zsh > \"${fpath[1]}/_paysync\"\n  \
paysync completions fish > ~/.config/fish/completions/paysync.fish"
)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The completion script for `shell`.
pub fn completion_script(shell: Shell) -> String {
    let mut command = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut command, "paysync", &mut buf);
    String::from_utf8(buf).expect("completion scripts are UTF-8")
}

/// The man page, section 1, in roff.
pub fn man_page() -> String {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .expect("rendering into memory does not fail");
    String::from_utf8(buf).expect("the man page is UTF-8")
}

pub fn completions(args: &CompletionsArgs, term: &Terminal) -> Result<i32, Error> {
    term.out(&completion_script(args.shell));
    Ok(exit::SUCCESS)
}

pub fn man(term: &Terminal) -> Result<i32, Error> {
    term.out(&man_page());
    Ok(exit::SUCCESS)
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
