//! Help and manuals: each subcommand's own options before the global ones in `--help`,
//! and a man page per subcommand naming each of its flags.

use crate::support::World;

#[test]
fn import_help_lists_its_own_options_before_the_global_ones() {
    let o = World::new().run(&["import", "--help"]);
    o.expect_code(0);
    let options = o.stdout.find("\nOptions:").expect("an Options heading");
    let global = o
        .stdout
        .find("\nGlobal options:")
        .expect("a Global options heading");
    assert!(options < global, "{}", o.stdout);
    let own = &o.stdout[options..global];
    let globals = &o.stdout[global..];
    for flag in [
        "--pay-system",
        "--target",
        "--all",
        "--out",
        "--adopt",
        "--state",
    ] {
        assert!(
            own.contains(flag),
            "{flag} is not among import's own options"
        );
    }
    for flag in ["--verbose", "--quiet", "--no-color", "--log-format"] {
        assert!(globals.contains(flag), "{flag} is not under Global options");
        assert!(!own.contains(flag), "{flag} is among import's own options");
    }
}

/// Every command (nested ones too) as its path of names: `[]`, `["plan"]`,
/// `["state", "move-portal"]`, with its long flags (the global ones included).
fn commands() -> Vec<(Vec<String>, Vec<String>)> {
    use clap::CommandFactory;
    fn walk(command: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>) {
        let flags = command
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .collect();
        out.push((path.clone(), flags));
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = path.clone();
            path.push(sub.get_name().to_owned());
            walk(sub, path, out);
        }
    }
    let mut command = paysync::cli::Cli::command();
    command.build();
    let mut out = Vec::new();
    walk(&command, Vec::new(), &mut out);
    out
}

#[test]
fn every_subcommand_has_a_man_page_naming_each_of_its_flags() {
    let w = World::new();
    let o = w.run(&["man", "--dir", "man1"]);
    o.expect_code(0);
    let commands = commands();
    assert!(commands.len() >= 12, "{commands:?}");
    for (path, flags) in &commands {
        let name = std::iter::once("paysync")
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        let file = format!("man1/{name}.1");
        let page = w.read(&file);
        assert!(
            page.contains(&format!(".TH {name} 1")),
            "{file} is missing or not its page; written: {}",
            o.stdout
        );
        assert!(o.stdout.contains(&file), "{file} not listed: {}", o.stdout);
        for flag in flags {
            // roff escapes the dashes.
            let roff = flag.replace('-', "\\-");
            assert!(page.contains(&roff), "{file} does not describe {flag}");
        }
        if !path.is_empty() {
            // The same page, printed.
            let mut args = vec!["man"];
            args.extend(path.iter().map(String::as_str));
            let printed = w.run(&args);
            printed.expect_code(0);
            assert_eq!(printed.stdout, page, "paysync man {}", path.join(" "));
        }
    }
    // Every flag of plan and apply, at least, is described in words, not only named.
    let apply = w.read("man1/paysync-apply.1");
    assert!(apply.contains("Do not ask for confirmation"), "{apply}");
    w.run(&["man", "no-such-command"]).expect_code(64);
}
