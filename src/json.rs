//! Reading the JSON files paysync writes and reads back (the state, saved plans) as they
//! are parsed, without holding their text (issue 22): one document from a reader, a file
//! read from its start, an error's message without the position it also gives. A leaf
//! module.

use std::io::{BufReader, Seek};

use serde::Deserialize;
use serde_json::de::{IoRead, Read};

/// Reads one JSON document of `T` from `read`, nothing after it.
pub fn one<'de, R: Read<'de>, T: Deserialize<'de>>(read: R) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::new(read);
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// `file` from its start, buffered, for [`one`].
pub fn from_start(mut file: &std::fs::File) -> std::io::Result<IoRead<BufReader<&std::fs::File>>> {
    file.rewind()?;
    Ok(IoRead::new(BufReader::with_capacity(64 * 1024, file)))
}

/// `e`'s message without the position it ends with (said once, from its own fields, by
/// the caller's error).
pub fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}
