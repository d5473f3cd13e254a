//! Finding a request message's type: a protobuf field read straight from the wire (no
//! `.proto` file, only the bytes on the way to the field are looked at), or the method name.

use std::sync::Arc;

use yardmaster_config::{FieldNumbers, MessageType, MessageTypeConfig};
use yardmaster_route::GrpcPath;

/// How a route finds the type of a message.
#[derive(Debug)]
pub(crate) enum Extractor {
    /// The value of the field at this path of field numbers.
    Field(Vec<u32>),
    /// A field named in `.proto` files: its numbers for each gRPC path.
    FieldByName(Arc<FieldNumbers>),
    /// The gRPC method name.
    Method,
}

/// Why a message's type could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum WireError {
    #[error("the request message is not valid protobuf ({0})")]
    Malformed(&'static str),
    #[error("compressed request messages cannot be read for their type; send them uncompressed")]
    Compressed,
}

/// A field's value on the wire.
#[derive(Debug, PartialEq, Eq)]
enum Value<'a> {
    /// Varint, fixed32 or fixed64.
    Number(u64),
    /// Length-delimited: a string, bytes or a nested message.
    Bytes(&'a [u8]),
}

impl Extractor {
    /// The extractor of `config`; compiles its `.proto` files if loading did not (the
    /// configuration came from a string). Blocks on file I/O then.
    pub(crate) fn new(config: &MessageTypeConfig) -> Result<Extractor, String> {
        if let Some(path) = &config.field {
            return Ok(Extractor::Field(path.0.clone()));
        }
        if config.field_name.is_none() {
            return Ok(Extractor::Method);
        }
        let numbers = match &config.field_numbers {
            Some(numbers) => numbers.clone(),
            None => Arc::new(config.compile_field_names()?),
        };
        Ok(Extractor::FieldByName(numbers))
    }

    /// Whether the type depends on the message (and not only on the call).
    pub(crate) fn needs_message(&self) -> bool {
        !matches!(self, Extractor::Method)
    }

    /// The type of `payload`, a message of the call to gRPC path `path`
    /// (`/package.Service/Method`). An absent field is type `0`, and so is every message
    /// of a method whose request message has no field of that name.
    pub(crate) fn type_of(
        &self,
        path: &str,
        payload: &[u8],
        compressed: bool,
    ) -> Result<MessageType, WireError> {
        let numbers = match self {
            Extractor::Method => {
                let method = GrpcPath::parse(path).map_or("", |p| p.method);
                return Ok(MessageType::Name(method.to_owned()));
            }
            Extractor::Field(numbers) => numbers,
            Extractor::FieldByName(by_path) => match by_path.get(path) {
                Some(numbers) => numbers,
                None => return Ok(MessageType::Number(0)),
            },
        };
        if compressed {
            return Err(WireError::Compressed);
        }
        Ok(match find(payload, numbers)? {
            None => MessageType::Number(0),
            // Two's complement, so a negative int32/int64 (sign-extended to 10 bytes on the
            // wire) reads back as the negative number.
            Some(Value::Number(n)) => MessageType::Number(n as i64),
            Some(Value::Bytes(text)) => MessageType::Name(String::from_utf8_lossy(text).into()),
        })
    }
}

/// The value of the field at `path` in `message`; the last occurrence wins, as when
/// protobuf parses a repeated scalar into a singular field or merges nested messages.
fn find<'a>(mut message: &'a [u8], path: &[u32]) -> Result<Option<Value<'a>>, WireError> {
    let Some((&number, rest)) = path.split_first() else {
        return Ok(None);
    };
    let mut found = None;
    while !message.is_empty() {
        let tag = varint(&mut message)?;
        let value = value(&mut message, tag & 7)?;
        if tag >> 3 != u64::from(number) {
            continue;
        }
        match (rest.is_empty(), value) {
            (true, value) => found = Some(value),
            (false, Value::Bytes(nested)) => {
                if let Some(value) = find(nested, rest)? {
                    found = Some(value);
                }
            }
            // A scalar where a nested message was expected: the path does not apply.
            (false, Value::Number(_)) => {}
        }
    }
    Ok(found)
}

fn value<'a>(message: &mut &'a [u8], wire_type: u64) -> Result<Value<'a>, WireError> {
    match wire_type {
        0 => varint(message).map(Value::Number),
        1 => fixed::<8>(message).map(|b| Value::Number(u64::from_le_bytes(b))),
        2 => {
            let len = usize::try_from(varint(message)?)
                .map_err(|_| WireError::Malformed("length too large"))?;
            let bytes = message
                .get(..len)
                .ok_or(WireError::Malformed("length beyond the end"))?;
            *message = message.get(len..).unwrap_or_default();
            Ok(Value::Bytes(bytes))
        }
        5 => fixed::<4>(message).map(|b| Value::Number(u64::from(u32::from_le_bytes(b)))),
        _ => Err(WireError::Malformed("unsupported wire type")),
    }
}

fn fixed<const N: usize>(message: &mut &[u8]) -> Result<[u8; N], WireError> {
    let bytes: [u8; N] = message
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or(WireError::Malformed("fixed-width value beyond the end"))?;
    *message = message.get(N..).unwrap_or_default();
    Ok(bytes)
}

fn varint(message: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for (i, byte) in message.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *message = message.get(i + 1..).unwrap_or_default();
            return Ok(value);
        }
    }
    Err(WireError::Malformed("unterminated varint"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn field_varint(number: u32, v: u64, out: &mut Vec<u8>) {
        encode_varint(u64::from(number) << 3, out);
        encode_varint(v, out);
    }

    fn field_bytes(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
        encode_varint((u64::from(number) << 3) | 2, out);
        encode_varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    fn type_of(path: &[u32], message: &[u8]) -> Result<MessageType, WireError> {
        Extractor::Field(path.to_vec()).type_of("/s.S/M", message, false)
    }

    #[test]
    fn reads_varint_string_and_nested_fields_skipping_the_rest() {
        let mut nested = Vec::new();
        field_bytes(1, b"gold", &mut nested);
        field_varint(2, 7, &mut nested);
        let mut message = Vec::new();
        field_bytes(1, b"hello", &mut message);
        message.extend_from_slice(&[(4 << 3) | 5, 1, 0, 0, 0]); // fixed32 = 1
        message.extend_from_slice(&[(6 << 3) | 1, 2, 0, 0, 0, 0, 0, 0, 0]); // fixed64 = 2
        field_bytes(3, &nested, &mut message);
        field_varint(9, 3, &mut message);

        assert_eq!(type_of(&[9], &message), Ok(MessageType::Number(3)));
        assert_eq!(type_of(&[4], &message), Ok(MessageType::Number(1)));
        assert_eq!(type_of(&[6], &message), Ok(MessageType::Number(2)));
        assert_eq!(
            type_of(&[1], &message),
            Ok(MessageType::Name("hello".into()))
        );
        assert_eq!(type_of(&[3, 2], &message), Ok(MessageType::Number(7)));
        assert_eq!(
            type_of(&[3, 1], &message),
            Ok(MessageType::Name("gold".into()))
        );
    }

    #[test]
    fn absent_field_is_type_zero_and_last_occurrence_wins() {
        let mut message = Vec::new();
        field_varint(9, 1, &mut message);
        field_varint(9, 2, &mut message);
        assert_eq!(type_of(&[9], &message), Ok(MessageType::Number(2)));
        assert_eq!(type_of(&[8], &message), Ok(MessageType::Number(0)));
        assert_eq!(type_of(&[9, 1], &message), Ok(MessageType::Number(0)));
        assert_eq!(type_of(&[9], &[]), Ok(MessageType::Number(0)));
    }

    #[test]
    fn negative_int32_reads_back_negative() {
        let mut message = Vec::new();
        field_varint(1, (-5i64) as u64, &mut message);
        assert_eq!(type_of(&[1], &message), Ok(MessageType::Number(-5)));
    }

    #[test]
    fn garbage_and_compression_are_errors_not_panics() {
        assert!(type_of(&[1], &[0x08, 0x80]).is_err());
        assert!(type_of(&[1], &[0x0a, 0x05, b'a']).is_err());
        assert!(type_of(&[1], &[0x0b]).is_err());
        assert!(type_of(&[1], &[0xff; 12]).is_err());
        assert_eq!(
            Extractor::Field(vec![1]).type_of("/s.S/M", &[], true),
            Err(WireError::Compressed)
        );
        assert_eq!(
            Extractor::Method.type_of("/s.S/Unary", &[0xff], true),
            Ok(MessageType::Name("Unary".into()))
        );
    }
}
