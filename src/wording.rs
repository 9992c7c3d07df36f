//! How counts read in messages: `1 target`, `2 targets`. A leaf module.

use std::fmt::Display;

/// `n` and `noun`, the noun in the plural unless `n` is 1 (`1 setting`, `0 settings`).
pub fn plural<N: Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    let ending = if n == N::from(1) { "" } else { "s" };
    format!("{n} {noun}{ending}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_many() {
        assert_eq!(plural(1usize, "target"), "1 target");
        assert_eq!(plural(0usize, "target"), "0 targets");
        assert_eq!(plural(2u64, "setting"), "2 settings");
        assert_eq!(plural(1u32, "attempt"), "1 attempt");
    }
}
