//! The `mirror` route action: each call goes to several targets, filtered by message type,
//! and one of them (the responder) answers the client.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::descriptors::{compile_proto_files, show_paths};
use crate::duration;

/// The `mirror` action: send each call to every target whose filter passes its messages;
/// the client gets the reply of the responder for the type of its (first) message.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// How a request message's type is found; absent: no types, every target receives
    /// every message and the default responder answers.
    #[serde(default)]
    pub message_type: Option<MessageTypeConfig>,
    /// The clusters that receive the calls; at least one, each cluster at most once.
    pub targets: Vec<MirrorTargetConfig>,
    /// The cluster of the target that answers types without a `responder_for`; absent: the
    /// first target.
    #[serde(default)]
    pub default_responder: Option<String>,
    /// The longest a call may take, end to end; a shorter client `grpc-timeout` wins.
    #[serde(default, with = "duration::option")]
    pub timeout: Option<Duration>,
    /// The longest a copy sent to a non-responding target may take; the call's deadline
    /// wins when it is shorter.
    #[serde(default = "default_copy_timeout", with = "duration")]
    pub copy_timeout: Duration,
    /// The largest request message accepted on the route; a larger one ends the call with
    /// RESOURCE_EXHAUSTED.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
}

/// 30 s: a shadow copy that takes longer is almost surely stuck, and its slot in the
/// target's queue is worth more to the next copy.
fn default_copy_timeout() -> Duration {
    Duration::from_secs(30)
}

/// 4 MiB, gRPC's own default limit: mirrored routes hold a whole message in memory to read
/// its type and copy it, so the limit bounds memory per call.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

/// Where the type of a request message comes from: exactly one of the keys.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageTypeConfig {
    /// A protobuf field read from the wire, by number or by a dotted path of numbers into
    /// nested messages (`3`, `"1.4"`).
    #[serde(default)]
    pub field: Option<FieldPath>,
    /// A protobuf field by name, or a dotted path of names into nested messages
    /// (`header.kind`), looked up in the request message of each method of `proto_files`.
    #[serde(default)]
    pub field_name: Option<String>,
    /// The `.proto` files that define the route's services, for `field_name`; compiled at
    /// startup (no `protoc`). Relative paths are relative to the configuration file; each
    /// file's directory is an import root.
    #[serde(default)]
    pub proto_files: Vec<PathBuf>,
    /// The gRPC method name (`Unary`) is the type.
    #[serde(default)]
    pub method: bool,
    /// `field_name` as field numbers, per gRPC path (`/package.Service/Method`); filled in
    /// by [`load`](crate::load) or [`MessageTypeConfig::compile_field_names`].
    #[serde(skip)]
    pub field_numbers: Option<Arc<FieldNumbers>>,
}

/// The field numbers of a `field_name` for each method whose request message has it,
/// keyed by gRPC path (`/package.Service/Method`).
pub type FieldNumbers = HashMap<String, Vec<u32>>;

impl MessageTypeConfig {
    /// Compiles `proto_files` ([`compile_proto_files`]) and resolves `field_name` in the request
    /// message of every method they define. Blocks on file I/O.
    ///
    /// # Errors
    ///
    /// One line saying which file does not compile, or that no method's request message
    /// has the field.
    pub fn compile_field_names(&self) -> Result<FieldNumbers, String> {
        let Some(name) = &self.field_name else {
            return Ok(FieldNumbers::new());
        };
        let pool = compile_proto_files(&self.proto_files)?;
        let segments: Vec<&str> = name.split('.').collect();
        let mut numbers = FieldNumbers::new();
        for service in pool.services() {
            for method in service.methods() {
                if let Some(path) = resolve(method.input(), &segments) {
                    let key = format!("/{}/{}", service.full_name(), method.name());
                    numbers.insert(key, path);
                }
            }
        }
        if numbers.is_empty() {
            return Err(format!(
                "no request message of the methods in {} has a field {name:?}",
                show_paths(&self.proto_files)
            ));
        }
        Ok(numbers)
    }
}

/// The field numbers of the dotted name `segments` in `message`, if every step exists
/// (every step but the last a message field).
fn resolve(
    mut message: protox::prost_reflect::MessageDescriptor,
    segments: &[&str],
) -> Option<Vec<u32>> {
    let mut path = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let field = message.get_field_by_name(segment)?;
        path.push(field.number());
        if i + 1 < segments.len() {
            message = field.kind().as_message()?.clone();
        }
    }
    Some(path)
}

/// A path of protobuf field numbers, outermost first: `3` or `"1.4"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(pub Vec<u32>);

/// The largest protobuf field number (2^29 - 1).
const MAX_FIELD_NUMBER: u32 = (1 << 29) - 1;

impl FieldPath {
    /// Parses `"1.4"`; each number in 1..=536870911.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let numbers = text
            .split('.')
            .map(|part| {
                part.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_FIELD_NUMBER).contains(n))
            })
            .collect::<Option<Vec<u32>>>();
        numbers
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a field path; write field numbers (1 to {MAX_FIELD_NUMBER}) \
                 joined by dots, e.g. 3 or \"1.4\""
                )
            })
            .map(FieldPath)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, number) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{number}")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FieldPath, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(text) => text,
        };
        FieldPath::parse(&text).map_err(de::Error::custom)
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A message type: an integer (from a varint field) or a name (from a string field or the
/// method name). A message whose field is absent has type `0`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(untagged)]
pub enum MessageType {
    /// A varint (`int32`, `int64`, `uint32`, `uint64`, `bool`, enum) or fixed-width field.
    Number(i64),
    /// A `string` field, or the method name.
    Name(String),
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageType::Number(n) => write!(f, "{n}"),
            MessageType::Name(name) => write!(f, "{name:?}"),
        }
    }
}

/// One destination of a mirrored route.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorTargetConfig {
    /// The cluster that receives the messages.
    pub cluster: String,
    /// Only messages of these types reach the target; at most one of `include`/`exclude`.
    #[serde(default)]
    pub include: Option<Vec<MessageType>>,
    /// Every message except those of these types reaches the target.
    #[serde(default)]
    pub exclude: Option<Vec<MessageType>>,
    /// Types for which this target's reply goes to the client; each must pass the filter,
    /// and no two targets may answer the same type.
    #[serde(default)]
    pub responder_for: Vec<MessageType>,
    /// Percentage (0 to 100) of calls copied to the target when it is not the responder.
    #[serde(default = "default_sample_percent")]
    pub sample_percent: f64,
    /// Copies in flight to the target at once; when all slots are taken, a new copy is
    /// dropped and counted.
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
}

fn default_sample_percent() -> f64 {
    100.0
}

/// 64 copies: enough to absorb a burst against a healthy shadow, few enough that a dead
/// or slow one costs little memory before copies are dropped.
fn default_queue_size() -> usize {
    64
}

impl MirrorTargetConfig {
    /// Whether this target's filter lets messages of type `ty` through.
    pub fn passes(&self, ty: &MessageType) -> bool {
        match (&self.include, &self.exclude) {
            (Some(include), _) => include.contains(ty),
            (None, Some(exclude)) => !exclude.contains(ty),
            (None, None) => true,
        }
    }
}
