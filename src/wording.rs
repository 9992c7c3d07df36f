//! How counts read in messages (`1 target`, `2 targets`) and what a misspelt name is
//! nearest to (`did you mean ...?`). A leaf module.

use std::fmt::Display;

/// Of `candidates`, those nearest to `wanted`, best first, at most `limit`: by edit
/// distance (case-insensitive), ties kept in the candidates' order. With `close_only`,
/// only those a typo away (distance at most a quarter of the longer name, and at least
/// one): for "did you mean"; without, the nearest whatever they are (to name a few
/// that exist).
pub fn nearest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: usize,
    close_only: bool,
) -> Vec<&'a str> {
    scored(wanted, candidates, close_only)
        .into_iter()
        .map(|(_, c)| c)
        .take(limit)
        .collect()
}

/// The candidates with their distance to `wanted`, nearest first, each once.
fn scored<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    close_only: bool,
) -> Vec<(usize, &'a str)> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &str)> = Vec::new();
    for c in candidates {
        if c == wanted || scored.iter().any(|(_, s)| *s == c) {
            continue;
        }
        let d = strsim::levenshtein(&wanted_lower, &c.to_lowercase());
        if !close_only || d <= (wanted.chars().count().max(c.chars().count()) / 4).max(1) {
            scored.push((d, c));
        }
    }
    scored.sort_by_key(|(d, _)| *d);
    scored
}

/// ` (did you mean `A`?)`, or ` (did you mean `A` or `B`?)` when two are as near, for
/// the names nearest to `wanted` a typo away; empty when none is.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let scored = scored(wanted, candidates, true);
    let best: Vec<&str> = scored
        .iter()
        .take_while(|(d, _)| Some(*d) == scored.first().map(|(d, _)| *d))
        .map(|(_, c)| *c)
        .collect();
    match best.as_slice() {
        [] => String::new(),
        [one] => format!(" (did you mean `{one}`?)"),
        [one, two, ..] => format!(" (did you mean `{one}` or `{two}`?)"),
    }
}

/// `n` and `noun`, the noun in the plural unless `n` is 1 (`1 setting`, `0 settings`).
pub fn plural<N: Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    let ending = if n == N::from(1) { "" } else { "s" };
    format!("{n} {noun}{ending}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_names_are_suggested() {
        let fields = ["apiVersion", "kind", "paySystem", "personType", "settings"];
        assert_eq!(nearest("paysystem", fields, 2, true), ["paySystem"]);
        assert_eq!(
            did_you_mean("setings", fields),
            " (did you mean `settings`?)"
        );
        assert_eq!(did_you_mean("zzz", fields), "");
        assert_eq!(
            nearest("99:1", ["11:1", "12:0", "98:1"], 2, false),
            ["98:1", "11:1"]
        );
    }

    #[test]
    fn one_and_many() {
        assert_eq!(plural(1usize, "target"), "1 target");
        assert_eq!(plural(0usize, "target"), "0 targets");
        assert_eq!(plural(2u64, "setting"), "2 settings");
        assert_eq!(plural(1u32, "attempt"), "1 attempt");
    }
}
