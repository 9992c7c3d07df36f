use clap::{CommandFactory, Parser};

use super::args::parse_target;
use super::*;
use crate::model::Target;

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn import_targets_parse() {
    assert_eq!(
        parse_target("11:0"),
        Ok(Target {
            pay_system: 11,
            person_type: 0
        })
    );
    assert!(parse_target("0:1").is_err());
    assert!(parse_target("11").is_err());
}

#[test]
fn plan_and_apply_resolve_the_same_inputs() {
    let plan =
        Cli::try_parse_from(["paysync", "plan", "--refresh", "--rate", "250/5", "m"]).unwrap();
    let apply =
        Cli::try_parse_from(["paysync", "apply", "--refresh", "--rate", "250/5", "m"]).unwrap();
    match (plan.command, apply.command) {
        (Command::Plan(p), Command::Apply(a)) => {
            assert_eq!(p.resolve(None).inputs, a.resolve(None).inputs);
        }
        _ => panic!("parsed other commands"),
    }
    assert!(Cli::try_parse_from(["paysync", "apply", "--plan", "p.json", "m"]).is_err());
    assert!(Cli::try_parse_from(["paysync", "apply", "--plan", "p.json", "--refresh"]).is_err());
}

/// Every subcommand's help ends with two or three examples (issue 23.5), each a paysync
/// command that parses.
#[test]
fn every_subcommand_help_ends_with_examples_that_parse() {
    fn leaves(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        let subs: Vec<&clap::Command> = command
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.push(path.to_owned());
        }
        for sub in subs {
            let p = if path.is_empty() {
                sub.get_name().to_owned()
            } else {
                format!("{path} {}", sub.get_name())
            };
            leaves(sub, &p, out);
        }
    }
    let mut paths = Vec::new();
    leaves(&Cli::command(), "", &mut paths);
    assert!(paths.len() >= 17, "{paths:?}");
    for path in &paths {
        let examples = super::examples(path).unwrap_or_else(|| panic!("{path} has no examples"));
        assert!((2..=3).contains(&examples.len()), "{path}: {examples:?}");
        for example in examples {
            // As a shell would split it, up to a redirection, a pipe or a comment.
            let words: Vec<&str> = example
                .split_whitespace()
                .take_while(|w| !["|", ">", "&&", "#"].contains(w))
                .map(|w| w.trim_matches('\''))
                .collect();
            Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{example}: {e}"));
        }
        let mut command = super::command();
        let mut sub = &mut command;
        for name in path.split(' ') {
            sub = sub.find_subcommand_mut(name).unwrap();
        }
        let help = sub.render_help().to_string();
        assert!(
            help.trim_end().ends_with(examples.last().unwrap()),
            "{path}:\n{help}"
        );
    }
}
