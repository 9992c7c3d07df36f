//! Every subcommand's `--help` ends with two or three examples (issue 23.5), appended to
//! the help clap derives from the argument types, so that the examples of all commands
//! are in one table and a test can see that none is missing.

use clap::CommandFactory;

use super::args::Cli;

/// Subcommand path → its examples, one command a line.
const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "validate",
        &[
            "paysync validate manifests",
            "paysync validate --env prod --format github",
            "paysync validate --live --secrets manifests",
        ],
    ),
    (
        "plan",
        &[
            "paysync plan manifests",
            "paysync plan --refresh --detailed-exitcode manifests",
            "paysync plan --env prod --format markdown --out plan.json --comment-parts comments",
        ],
    ),
    (
        "apply",
        &[
            "paysync apply manifests",
            "paysync apply --plan plan.json --auto-approve",
            "paysync apply --env prod --plan plan-prod.json --verify --auto-approve",
        ],
    ),
    (
        "schema",
        &[
            "paysync schema > schema/paysync.schema.json",
            "paysync schema plan",
        ],
    ),
    (
        "show",
        &[
            "paysync show plan.json",
            "paysync show --format markdown --comment-parts comments plan.json",
            "paysync show --format markdown --rollup plan-test.json plan-prod.json --failed staging",
        ],
    ),
    (
        "drift",
        &["paysync drift", "paysync drift --env prod --format json"],
    ),
    (
        "import",
        &[
            "paysync import --all --out manifests",
            "paysync import --all --adopt --out manifests",
        ],
    ),
    (
        "env list",
        &[
            "paysync env list",
            "paysync --project ../shop/paysync.yaml env list",
        ],
    ),
    (
        "state move-portal",
        &[
            "paysync state move-portal https://shop.bitrix24.com",
            "paysync state move-portal --env prod https://shop.bitrix24.com",
        ],
    ),
    (
        "state pull",
        &[
            "paysync state pull > backup.state.json",
            "paysync state pull --env prod | jq '.targets | length'",
        ],
    ),
    (
        "state push",
        &[
            "paysync state push backup.state.json",
            "paysync state push --env prod errored.paysync-state.json",
        ],
    ),
    (
        "state migrate",
        &[
            "paysync state migrate --state paysync.state.json --to s3://team-state/paysync/prod.json",
            "paysync state migrate --env prod --to https://gitlab.com/api/v4/projects/7/terraform/state/prod",
        ],
    ),
    (
        "state list",
        &[
            "paysync state list",
            "paysync state list --env prod --format json",
        ],
    ),
    (
        "state unlock",
        &[
            "paysync state unlock 6f1c2b9e-7d4a-4c5e-9b1f-0a2d3e4f5a6b",
            "paysync state unlock --env prod 6f1c2b9e-7d4a-4c5e-9b1f-0a2d3e4f5a6b",
        ],
    ),
    (
        "state history",
        &[
            "paysync state history",
            "paysync state history --env prod --format json",
        ],
    ),
    (
        "auth refresh",
        &[
            "paysync auth refresh",
            "paysync auth refresh --if-older-than 30",
        ],
    ),
    (
        "completions",
        &[
            "paysync completions bash > ~/.local/share/bash-completion/completions/paysync",
            "paysync completions zsh > \"${fpath[1]}/_paysync\"",
            "paysync completions fish > ~/.config/fish/completions/paysync.fish",
        ],
    ),
    (
        "man",
        &[
            "paysync man > paysync.1 && man ./paysync.1",
            "paysync man state move-portal | man -l -",
            "paysync man --dir ~/.local/share/man/man1    # paysync.1, paysync-plan.1, ...",
        ],
    ),
];

/// The examples of the subcommand `path` (`"state pull"`), if it has any.
pub fn examples(path: &str) -> Option<&'static [&'static str]> {
    EXAMPLES.iter().find(|(p, _)| *p == path).map(|(_, e)| *e)
}

/// paysync's command line, every subcommand's help ending with its examples.
pub fn command() -> clap::Command {
    with_examples(Cli::command(), "")
}

fn with_examples(mut command: clap::Command, path: &str) -> clap::Command {
    if let Some(lines) = examples(path) {
        let mut help = command
            .get_after_help()
            .map(|h| format!("{h}\n\n"))
            .unwrap_or_default();
        help.push_str("Examples:");
        for line in lines {
            help.push_str("\n  ");
            help.push_str(line);
        }
        command = command.after_help(help);
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in names {
        let sub = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        command = command.mut_subcommand(&name, |c| with_examples(c, &sub));
    }
    command
}

/// Parses the process's arguments as [`Cli::try_parse`] does, with the examples in help.
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let mut command = command();
    let matches = command.try_get_matches_from_mut(std::env::args_os())?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}
