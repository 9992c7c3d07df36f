//! How counts read in messages: `1 target`, `2 targets`. A leaf module.

/// `n` and `noun`, the noun in the plural unless `n` is 1 (`1 setting`, `0 settings`).
pub fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", s(n))
}

/// The plural ending for `n` things: `""` for 1, `"s"` otherwise.
pub fn s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_many() {
        assert_eq!(plural(1, "target"), "1 target");
        assert_eq!(plural(0, "target"), "0 targets");
        assert_eq!(plural(2, "setting"), "2 settings");
        assert_eq!(s(1), "");
        assert_eq!(s(3), "s");
    }
}
