//! Located YAML values: what a manifest document is made of before validation.
//!
//! A leaf module of plain types: [`super::yaml`] (the only code that calls the YAML crate)
//! deserializes into them, [`super::raw`] describes documents with them, and
//! [`super::validate`] checks them.

/// A value and where it is in the file (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub line: usize,
    pub column: usize,
    /// How many characters it spans there.
    pub len: usize,
    /// Where the value is defined (differs from `line:column` behind an alias) and how
    /// many characters it spans: used to recover the spelling of scalars.
    pub(super) defined: (usize, usize, usize),
}

/// Any YAML value, as the parser typed it. Scalars other than strings keep their
/// spelling in the source (`spelling`), so messages can quote what the user wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A quoted scalar, or a plain one that is not a number, boolean or null.
    Str(String),
    Int {
        value: i128,
        spelling: String,
    },
    Float {
        spelling: String,
    },
    Bool {
        spelling: String,
    },
    Null {
        spelling: String,
    },
    /// A sequence, items in source order.
    Seq(Vec<Located<Node>>),
    /// A mapping, entries in source order (duplicate keys are already refused).
    Map(Vec<(Located<Node>, Located<Node>)>),
}
