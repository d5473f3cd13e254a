//! A regular expression written in the file, compiled while parsing.

use std::fmt;

use regex::Regex;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A regular expression anchored at both ends: it must match the whole input.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source`, anchored as `^(?:source)$`.
    pub fn new(source: &str) -> Result<Pattern, regex::Error> {
        let regex = Regex::new(&format!("^(?:{source})$"))?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }

    /// Whether the whole of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The expression as written in the file.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let source = String::deserialize(d)?;
        Pattern::new(&source).map_err(|e| {
            de::Error::custom(format!(
                "{source:?} is not a valid regular expression: {}",
                regex_problem(&e)
            ))
        })
    }
}

/// The last line of a regex error: its syntax errors draw a multi-line caret diagram around
/// our `^(?:...)$` wrapping, and only the final `error: ...` line is meaningful to the reader.
fn regex_problem(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}
