//! Path templates of `google.api.http` rules, as `google/api/http.proto` defines them:
//! `/v1/{name=shelves/*/books/*}:publish` is literal segments, `*` (one segment), `**`
//! (the rest of the path), variables that bind a field path to some of those segments,
//! and a trailing `:verb`.

use std::fmt;

/// One segment of a template.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    Literal(String),
    /// `*`: exactly one non-empty segment.
    One,
    /// `**`: the rest of the path, zero or more segments; only last.
    Rest,
}

impl Segment {
    /// The segment as a template writes it.
    fn text(&self) -> &str {
        match self {
            Segment::Literal(literal) => literal,
            Segment::One => "*",
            Segment::Rest => "**",
        }
    }

    /// How specific the segment is, for choosing between templates that both match.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::One => 1,
            Segment::Rest => 0,
        }
    }
}

/// A variable: the field path it sets and the segments it covers (`start..end`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Variable {
    pub(crate) field_path: Vec<String>,
    start: usize,
    end: usize,
}

/// A path parameter of a template written as an OpenAPI path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathParameter {
    /// The variable's field path (`book.name`), or `wildcard-N` for the N-th `*` or `**`
    /// outside any variable (a name no field path can have).
    pub(crate) name: String,
    /// The segments it stands for, as the template writes them: `*`, `**`,
    /// `shelves/*/books/*`.
    pub(crate) segments: String,
    /// The variable's index, in the order of [`PathTemplate::field_paths`]; `None` for a
    /// wildcard outside any variable.
    pub(crate) variable: Option<usize>,
}

/// A parsed path template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
    /// Each segment's [`Segment::rank`], computed once for [`PathTemplate::rank`].
    ranks: Vec<u8>,
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The segments of a request path, split once for every template it is tried against.
#[derive(Debug)]
pub(crate) struct RequestPath<'p> {
    segments: Vec<&'p str>,
}

impl<'p> RequestPath<'p> {
    /// `path` without its query; `None` unless it starts with `/`.
    pub(crate) fn new(path: &'p str) -> Option<RequestPath<'p>> {
        let rest = path.strip_prefix('/')?;
        let segments = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        Some(RequestPath { segments })
    }
}

/// What two templates must share to match exactly the same paths: the segments and the
/// verb.
pub(crate) type Shape<'t> = (&'t [Segment], Option<&'t str>);

/// The variables' values of a match, in the order of [`PathTemplate::field_paths`],
/// still percent-encoded.
pub(crate) type RawValues = Vec<String>;

impl PathTemplate {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// One line saying what is wrong and where (`expected '}' after "shelf" at byte 9`).
    pub fn parse(text: &str) -> Result<PathTemplate, String> {
        Parser {
            text,
            at: 0,
            segments: Vec::new(),
            variables: Vec::new(),
        }
        .template()
    }

    /// The field paths of the variables, in order.
    pub(crate) fn field_paths(&self) -> impl Iterator<Item = &[String]> {
        self.variables.iter().map(|v| v.field_path.as_slice())
    }

    /// What two templates must share to match exactly the same paths.
    pub(crate) fn shape(&self) -> Shape<'_> {
        (&self.segments, self.verb.as_deref())
    }

    /// How specific the template is: of two templates that match a path, the greater
    /// wins. Literal beats `*` beats `**`, segment by segment; then a verb wins.
    pub(crate) fn rank(&self) -> (&[u8], bool) {
        (&self.ranks, self.verb.is_some())
    }

    /// The template as an OpenAPI path (`/v1/{name}:publish`) and its parameters, in
    /// order: a variable is one parameter named by its field path however many segments
    /// it covers, a `*` or `**` outside any variable is one too, and the `:verb` stays
    /// literal.
    pub(crate) fn openapi_path(&self) -> (String, Vec<PathParameter>) {
        let mut path = String::new();
        let mut parameters = Vec::new();
        let mut wildcards = 0_usize;
        let mut at = 0;
        while let Some(segment) = self.segments.get(at) {
            path.push('/');
            let variable = self
                .variables
                .iter()
                .enumerate()
                .find(|(_, v)| v.start == at);
            let (name, end, index) = match (variable, segment) {
                (Some((index, variable)), _) => {
                    (variable.field_path.join("."), variable.end, Some(index))
                }
                (None, Segment::Literal(literal)) => {
                    path.push_str(literal);
                    at = at.saturating_add(1);
                    continue;
                }
                (None, Segment::One | Segment::Rest) => {
                    wildcards = wildcards.saturating_add(1);
                    (format!("wildcard-{wildcards}"), at.saturating_add(1), None)
                }
            };
            let covered = self.segments.get(at..end).unwrap_or_default();
            let segments: Vec<&str> = covered.iter().map(Segment::text).collect();
            path.push_str(&format!("{{{name}}}"));
            parameters.push(PathParameter {
                name,
                segments: segments.join("/"),
                variable: index,
            });
            // A variable covers at least one segment; `max` keeps the loop going anyway.
            at = end.max(at.saturating_add(1));
        }
        if let Some(verb) = &self.verb {
            path.push(':');
            path.push_str(verb);
        }
        if path.is_empty() {
            path.push('/');
        }
        (path, parameters)
    }

    /// The variables' values when `path` matches, still percent-encoded.
    pub(crate) fn matches(&self, path: &RequestPath<'_>) -> Option<RawValues> {
        // Tried against every binding: reads the request's segments in place, and
        // allocates only for a match's values.
        let count = path.segments.len();
        let last = match &self.verb {
            Some(verb) => Some(
                path.segments
                    .last()?
                    .strip_suffix(verb.as_str())?
                    .strip_suffix(':')?,
            ),
            None => None,
        };
        let segment = |i: usize| match last {
            Some(last) if i.saturating_add(1) == count => Some(last),
            _ => path.segments.get(i).copied(),
        };
        let mut ends_with_rest = false;
        for (i, template) in self.segments.iter().enumerate() {
            match template {
                Segment::Literal(literal) => {
                    if segment(i) != Some(literal.as_str()) {
                        return None;
                    }
                }
                Segment::One => {
                    if segment(i).is_none_or(str::is_empty) {
                        return None;
                    }
                }
                Segment::Rest => ends_with_rest = true,
            }
        }
        if !ends_with_rest && count != self.segments.len() {
            return None;
        }
        let values = self
            .variables
            .iter()
            .map(|variable| {
                let end = if variable.end == self.segments.len() && ends_with_rest {
                    count
                } else {
                    variable.end
                };
                let covered: Vec<&str> = (variable.start..end).filter_map(segment).collect();
                covered.join("/")
            })
            .collect();
        Some(values)
    }

    /// Whether the variable at `index` covers more than one segment, so that its value
    /// keeps `%2F` encoded (a `/` in the value is a segment separator).
    pub(crate) fn is_multi_segment(&self, index: usize) -> bool {
        self.variables.get(index).is_some_and(|v| {
            v.end.saturating_sub(v.start) != 1 || self.segments.get(v.start) == Some(&Segment::Rest)
        })
    }
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
}

impl Parser<'_> {
    fn template(mut self) -> Result<PathTemplate, String> {
        if !self.eat('/') {
            return Err(format!("{:?} does not start with `/`", self.text));
        }
        let mut verb = None;
        if !self.rest().is_empty() {
            loop {
                self.segment_or_variable()?;
                if self.eat('/') {
                    continue;
                }
                if self.eat(':') {
                    let literal = self.literal().to_owned();
                    if literal.is_empty() || !self.rest().is_empty() {
                        return Err(self.error("a verb (`:name`) ends the template"));
                    }
                    verb = Some(literal);
                }
                if !self.rest().is_empty() {
                    return Err(self.error("expected `/`, `:verb` or the end"));
                }
                break;
            }
        }
        if let Some(i) = self.segments.iter().position(|s| *s == Segment::Rest) {
            if i.saturating_add(1) != self.segments.len() {
                return Err(format!("`**` must be the last segment of {:?}", self.text));
            }
        }
        for (i, variable) in self.variables.iter().enumerate() {
            if self.variables[..i]
                .iter()
                .any(|other| other.field_path == variable.field_path)
            {
                return Err(format!(
                    "{:?} binds `{}` twice",
                    self.text,
                    variable.field_path.join(".")
                ));
            }
        }
        let ranks = self.segments.iter().map(Segment::rank).collect();
        Ok(PathTemplate {
            text: self.text.to_owned(),
            segments: self.segments,
            variables: self.variables,
            verb,
            ranks,
        })
    }

    fn segment_or_variable(&mut self) -> Result<(), String> {
        if !self.eat('{') {
            let segment = self.segment()?;
            self.segments.push(segment);
            return Ok(());
        }
        let field_path = self.field_path()?;
        let start = self.segments.len();
        if self.eat('=') {
            loop {
                let segment = self.segment()?;
                self.segments.push(segment);
                if !self.eat('/') {
                    break;
                }
            }
        } else {
            self.segments.push(Segment::One);
        }
        if !self.eat('}') {
            return Err(self.error("expected `}` to close the variable"));
        }
        self.variables.push(Variable {
            field_path,
            start,
            end: self.segments.len(),
        });
        Ok(())
    }

    fn segment(&mut self) -> Result<Segment, String> {
        match self.literal().to_owned().as_str() {
            "" => Err(self.error("expected a segment (a literal, `*`, `**` or `{field}`)")),
            "*" => Ok(Segment::One),
            "**" => Ok(Segment::Rest),
            literal if literal.contains('*') => Err(self.error("`*` must be a segment of its own")),
            literal => Ok(Segment::Literal(literal.to_owned())),
        }
    }

    /// `IDENT { "." IDENT }`.
    fn field_path(&mut self) -> Result<Vec<String>, String> {
        let text = self
            .take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            .to_owned();
        let path: Vec<String> = text.split('.').map(str::to_owned).collect();
        let is_ident = |s: &String| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        };
        if path.iter().all(is_ident) {
            Ok(path)
        } else {
            Err(self.error("expected a field path (`name` or `parent.name`)"))
        }
    }

    /// Everything up to the next character with a meaning in templates.
    fn literal(&mut self) -> &str {
        self.take_while(|c| !matches!(c, '/' | ':' | '{' | '}' | '=' | '?' | '#'))
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &str {
        let rest = self.rest();
        let len = rest.find(|c| !keep(c)).unwrap_or(rest.len());
        let taken = &self.text[self.at..self.at.saturating_add(len)];
        self.at = self.at.saturating_add(len);
        taken
    }

    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.at = self.at.saturating_add(c.len_utf8());
            true
        } else {
            false
        }
    }

    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {} of {:?}", self.at, self.text)
    }
}

/// Decodes `%XX` escapes; with `keep_slashes`, `%2F` stays encoded.
///
/// # Errors
///
/// A `%` not followed by two hex digits, or bytes that are not UTF-8.
pub(crate) fn percent_decode(text: &str, keep_slashes: bool) -> Result<String, String> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte != b'%' {
            decoded.push(byte);
            i = i.saturating_add(1);
            continue;
        }
        let hex = bytes
            .get(i.saturating_add(1)..i.saturating_add(3))
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok().map(|b| (h, b)));
        let Some((hex, value)) = hex else {
            return Err(format!(
                "{text:?} has a `%` without two hex digits after it"
            ));
        };
        if keep_slashes && value == b'/' {
            decoded.push(b'%');
            decoded.extend_from_slice(hex.as_bytes());
        } else {
            decoded.push(value);
        }
        i = i.saturating_add(3);
    }
    String::from_utf8(decoded).map_err(|_| format!("{text:?} decodes to bytes that are not UTF-8"))
}

#[cfg(test)]
mod tests;
