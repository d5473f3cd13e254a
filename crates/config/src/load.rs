//! Reading a configuration file: YAML parsing with serde-saphyr, then validation, with every
//! error tied to its file, line, column and field path.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde_saphyr::{MessageFormatter, UserMessageFormatter};

use crate::model::{Config, EndpointConfig};
use crate::source_map::{Location, SourceMap};
use crate::validate::{check_endpoints, validate};

/// One problem in a configuration file.
///
/// Displays as `file:line:column: path: message`, e.g.
/// `gateway.yaml:14:7: clusters[1].endpoints[0]: "10.0.0.x:80" is not a socket address ...`.
/// Parts that are unknown are left out: `file: path: message` without a location,
/// `file:line:column: message` without a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as given to [`load`] or [`from_str`].
    pub file: String,
    /// Line of the offending key or value, from 1; 0 when unknown.
    pub line: usize,
    /// Column of the offending key or value, from 1 (in characters); 0 when unknown.
    pub column: usize,
    /// Field path such as `listeners[0].routes[2].forward.cluster`; empty when the error is
    /// about the file as a whole (a syntax error, an unreadable file).
    pub path: String,
    /// What is wrong, and where possible what would be right. A single line.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Why a configuration could not be loaded: one or more [`ConfigError`]s, in file order.
///
/// Displays one error per line. Never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    errors: Vec<ConfigError>,
}

impl LoadError {
    /// Every problem found, in file order (errors without a location last).
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    fn single(error: ConfigError) -> LoadError {
        LoadError {
            errors: vec![error],
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Reads, parses and validates the configuration file at `path`.
///
/// Relative `tls.cert_file`, `tls.key_file`, `proto_files` and discovery `path` and
/// `kubeconfig` paths are resolved against the directory of `path`; the PEM files are not read, the `.proto` files of `field_name`
/// extractors are compiled. Blocks on file I/O.
///
/// # Errors
///
/// A [`LoadError`] when the file cannot be read, is not UTF-8 or YAML, does not match the
/// model, or breaks a validation rule; all validation problems are reported together.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let file_name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        LoadError::single(error_at(&file_name, None, "", format!("cannot read: {e}")))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(&file_name, &e))?;
    let mut config = from_str(&text, &file_name)?;
    if let Some(dir) = path.parent() {
        resolve_tls_paths(&mut config, dir);
        resolve_proto_paths(&mut config, dir);
        resolve_discovery_paths(&mut config, dir);
        if let Some(path) = config.registry.as_mut().and_then(|r| r.path.as_mut()) {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    }
    let problems = compile_protos(&mut config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(located(problems, &text, &file_name))
    }
}

/// Parses and validates configuration `text`; `file_name` only appears in error messages.
///
/// Relative TLS paths are kept as written. Pure: no I/O.
///
/// # Errors
///
/// As [`load`], except for reading the file.
pub fn from_str(text: &str, file_name: &str) -> Result<Config, LoadError> {
    let mut config: Config = parse(text, file_name, "at least `listeners` is required")?;
    let problems = validate(&mut config);
    if problems.is_empty() {
        return Ok(config);
    }
    Err(located(problems, text, file_name))
}

/// The endpoints of a `file` discovery source: `text` holds `endpoints:` and a list written
/// as a cluster's `endpoints`, IP addresses only. `file_name` only appears in errors. YAML
/// and JSON both parse (JSON is YAML). Pure: no I/O.
///
/// # Errors
///
/// A [`LoadError`] naming the file, line, column and field of every problem.
pub fn parse_endpoint_file(text: &str, file_name: &str) -> Result<Vec<EndpointConfig>, LoadError> {
    let file: EndpointFile = parse(text, file_name, "write `endpoints: [ip:port, ...]`")?;
    let mut problems = Vec::new();
    check_endpoints("endpoints", &file.endpoints, &mut problems);
    for (i, endpoint) in file.endpoints.iter().enumerate() {
        if endpoint.address.socket().is_none() {
            problems.push((
                format!("endpoints[{i}]"),
                format!(
                    "{} is a host name; a discovery file lists IP:port addresses",
                    endpoint.address
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(file.endpoints)
    } else {
        Err(located(problems, text, file_name))
    }
}

/// The shape of an endpoint file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    endpoints: Vec<EndpointConfig>,
}

/// Parses `text` into the model `T`; `when_empty` says what an empty file should hold.
fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    file_name: &str,
    when_empty: &str,
) -> Result<T, LoadError> {
    serde_saphyr::from_str(text)
        .map_err(|e| LoadError::single(parse_error(&e, text, file_name, when_empty)))
}

/// Ties each `(field path, message)` problem to its place in `text`, in file order.
fn located(problems: crate::validate::Problems, text: &str, file_name: &str) -> LoadError {
    let map = SourceMap::new(text);
    let mut errors: Vec<ConfigError> = problems
        .into_iter()
        .map(|(path, message)| {
            let at = map.value_location(&path);
            error_at(file_name, at, &path, message)
        })
        .collect();
    errors.sort_by_key(|e| (e.line == 0, e.line, e.column));
    LoadError { errors }
}

fn error_at(file: &str, at: Option<Location>, path: &str, message: String) -> ConfigError {
    let at = at.unwrap_or(Location { line: 0, column: 0 });
    ConfigError {
        file: file.to_owned(),
        line: at.line,
        column: at.column,
        path: path.to_owned(),
        message,
    }
}

/// Locates the first byte that is not UTF-8, so the reader can find it in an editor.
fn not_utf8(file: &str, error: &std::string::FromUtf8Error) -> LoadError {
    let valid = error.as_bytes().get(..error.utf8_error().valid_up_to());
    let before = valid.map(String::from_utf8_lossy).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
    let at = Location {
        line: before.matches('\n').count().saturating_add(1),
        column: before
            .get(line_start..)
            .map_or(0, |l| l.chars().count())
            .saturating_add(1),
    };
    LoadError::single(error_at(
        file,
        Some(at),
        "",
        "the file is not valid UTF-8 text".to_owned(),
    ))
}

/// Turns a serde-saphyr error into one line, with the field path found through its location.
fn parse_error(
    error: &serde_saphyr::Error,
    text: &str,
    file: &str,
    when_empty: &str,
) -> ConfigError {
    let inner = original(error);
    let map = SourceMap::new(text);
    if matches!(inner, serde_saphyr::Error::Eof { .. }) && map.is_empty() {
        let message = format!("the file has no content; {when_empty}");
        return error_at(file, None, "", message);
    }
    let message = one_line(&Formatter { text }.format_message(inner));
    let at = error.location().and_then(|l| {
        Some(Location {
            line: usize::try_from(l.line()).ok().filter(|&n| n > 0)?,
            column: usize::try_from(l.column()).ok()?,
        })
    });
    // A missing key is reported where its mapping starts, which is also where the mapping's
    // first key is: name the mapping, not that key.
    let prefer_value = matches!(inner, serde_saphyr::Error::SerdeMissingField { .. });
    let path = at
        .and_then(|at| map.path_at(at, prefer_value))
        .map(|path| one_line(&path))
        .unwrap_or_default();
    error_at(file, at, &path, message)
}

/// The error itself, without the snippet and alias wrappers serde-saphyr may add.
fn original(mut error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    use serde_saphyr::Error;
    while let Error::WithSnippet { error: inner, .. } | Error::AliasError { error: inner, .. } =
        error
    {
        error = inner;
    }
    error
}

/// Rewords the serde messages that users see most; everything else is serde-saphyr's
/// user-facing wording.
struct Formatter<'t> {
    /// The whole file, to quote the offending scalar.
    text: &'t str,
}

impl MessageFormatter for Formatter<'_> {
    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> Cow<'a, str> {
        use serde_saphyr::Error;
        let message = match err {
            Error::SerdeUnknownField {
                field, expected, ..
            } => format!(
                "unknown key `{field}` (allowed keys: {})",
                expected.join(", ")
            ),
            Error::SerdeMissingField { field, .. } => format!("missing required key `{field}`"),
            Error::SerdeUnknownVariant {
                variant, expected, ..
            } => format!(
                "unknown value `{variant}` (expected one of: {})",
                expected.join(", ")
            ),
            Error::Unexpected { expected, .. } => format!("expected {}", describe(expected)),
            Error::InvalidScalar { ty, .. } => match self.scalar_at(err) {
                Some(scalar) => format!("{scalar:?} is not {}", describe(ty)),
                None => format!("expected {}", describe(ty)),
            },
            _ => return UserMessageFormatter.format_message(err),
        };
        Cow::Owned(message)
    }
}

impl Formatter<'_> {
    /// The source text of the scalar an error points at.
    fn scalar_at(&self, err: &serde_saphyr::Error) -> Option<&str> {
        let span = err.location()?.span();
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        self.text.get(start..start.checked_add(len)?)
    }
}

/// Names serde-saphyr's expectations the way the file is written.
fn describe(expected: &str) -> Cow<'_, str> {
    match expected {
        "sequence start" => "a list (`- item` lines or `[a, b]`)".into(),
        "mapping start" => "a mapping (`key: value` lines or `{key: value}`)".into(),
        "string scalar" | "scalar" => "a single value".into(),
        "boolean" => "true or false".into(),
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" => "a whole number from 0 to 4294967295".into(),
        "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        other => format!("a {other}").into(),
    }
}

/// Escapes control characters (line breaks from nested error sources, or inside a key of the
/// file) so the text stays on one line.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_debug());
        } else {
            line.push(c);
        }
    }
    line
}

/// Every route, with its field path (`listeners[0].routes[2]`).
fn routes(config: &mut Config) -> impl Iterator<Item = (String, &mut crate::model::RouteConfig)> {
    config
        .listeners
        .iter_mut()
        .enumerate()
        .flat_map(|(i, listener)| {
            listener
                .routes
                .iter_mut()
                .enumerate()
                .map(move |(j, route)| (format!("listeners[{i}].routes[{j}]"), route))
        })
}

/// The `message_type` of every mirrored route, with its field path.
fn message_types(
    config: &mut Config,
) -> impl Iterator<Item = (String, &mut crate::model::MessageTypeConfig)> {
    routes(config).filter_map(|(path, route)| {
        let message_type = route.mirror.as_mut()?.message_type.as_mut()?;
        Some((format!("{path}.mirror.message_type"), message_type))
    })
}

/// The `transcode` action of every route that has one, with its field path.
fn transcodes(
    config: &mut Config,
) -> impl Iterator<Item = (String, &mut crate::model::TranscodeConfig)> {
    routes(config).filter_map(|(path, route)| {
        let transcode = route.transcode.as_mut()?;
        Some((format!("{path}.transcode"), transcode))
    })
}

fn resolve_proto_paths(config: &mut Config, dir: &Path) {
    let resolve = |file: &mut std::path::PathBuf| {
        if file.is_relative() {
            *file = dir.join(&*file);
        }
    };
    for (_, message_type) in message_types(config) {
        message_type.proto_files.iter_mut().for_each(resolve);
    }
    for (_, transcode) in transcodes(config) {
        transcode.proto_files.iter_mut().for_each(resolve);
        transcode.descriptor_set.iter_mut().for_each(resolve);
    }
}

/// Compiles the `.proto` files of `field_name` extractors and stores the field numbers,
/// and loads the descriptors of transcoding routes.
fn compile_protos(config: &mut Config) -> crate::validate::Problems {
    let mut problems = Vec::new();
    for (path, message_type) in message_types(config) {
        if message_type.field_name.is_none() {
            continue;
        }
        match message_type.compile_field_names() {
            Ok(numbers) => message_type.field_numbers = Some(std::sync::Arc::new(numbers)),
            Err(message) => problems.push((format!("{path}.field_name"), message)),
        }
    }
    // Descriptors from server reflection are fetched by the running gateway.
    for (path, transcode) in transcodes(config).filter(|(_, t)| t.reflection.is_none()) {
        match transcode.build_api() {
            Ok(api) => transcode.api = Some(api),
            Err((key, message)) => problems.push((format!("{path}.{key}"), message)),
        }
    }
    problems
}

fn resolve_tls_paths(config: &mut Config, dir: &Path) {
    for tls in config.listeners.iter_mut().filter_map(|l| l.tls.as_mut()) {
        for file in [&mut tls.cert_file, &mut tls.key_file] {
            if file.is_relative() {
                *file = dir.join(&*file);
            }
        }
    }
}

fn resolve_discovery_paths(config: &mut Config, dir: &Path) {
    use crate::model::DiscoveryConfig;
    for discovery in config
        .clusters
        .iter_mut()
        .filter_map(|c| c.discovery.as_mut())
    {
        let file = match discovery {
            DiscoveryConfig::File(file) => Some(&mut file.path),
            DiscoveryConfig::Kubernetes(k8s) => k8s.kubeconfig.as_mut(),
            DiscoveryConfig::Static(_) | DiscoveryConfig::Dns(_) | DiscoveryConfig::Registry(_) => {
                None
            }
        };
        if let Some(file) = file.filter(|f| f.is_relative()) {
            *file = dir.join(&*file);
        }
    }
}
