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
