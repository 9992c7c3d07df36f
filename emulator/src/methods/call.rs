//! One call as a method implementation sees it: the caller, the prepared parameters, and
//! what the dispatcher passes down (so that a method file and the method table in
//! `methods/mod.rs` never import each other).

use serde_json::{Map, Value};

use crate::portal::Caller;

/// One call as a method implementation sees it.
pub(crate) struct Call<'a> {
    pub(crate) caller: &'a Caller,
    /// Parameters after the family's key preparation.
    pub(crate) params: &'a Map<String, Value>,
    /// A [`crate::FaultAction::ResultFalse`] fault matched this call.
    pub(crate) result_false: bool,
    /// The method table's lookup: the scope a method needs, `None` for an unknown one
    /// (for `method.get`).
    pub(crate) scope_of: fn(&str) -> Option<&'static str>,
}

impl Call<'_> {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.params.get(key)
    }
}
