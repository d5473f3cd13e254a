//! gRPC status codes and the headers of the gRPC HTTP/2 protocol that every crate reads.

use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

/// `content-type` prefix that marks a gRPC call (`application/grpc`, `application/grpc+proto`, ...).
pub const CONTENT_TYPE_PREFIX: &str = "application/grpc";

/// Name of the header (of a trailers-only response) or trailer carrying a call's status code.
pub const STATUS_HEADER: &str = "grpc-status";

/// Name of the header or trailer carrying a call's status message, percent-encoded.
pub const MESSAGE_HEADER: &str = "grpc-message";

/// Name of the trailer carrying a call's `google.rpc.Status` (with its details), base64.
pub const STATUS_DETAILS_HEADER: &str = "grpc-status-details-bin";

/// The status codes of gRPC (`grpc-status`), named as in the gRPC spec.
///
/// In configuration they are written in `snake_case` (`permission_denied`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl GrpcCode {
    const ALL: [GrpcCode; 17] = [
        GrpcCode::Ok,
        GrpcCode::Cancelled,
        GrpcCode::Unknown,
        GrpcCode::InvalidArgument,
        GrpcCode::DeadlineExceeded,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unimplemented,
        GrpcCode::Internal,
        GrpcCode::Unavailable,
        GrpcCode::DataLoss,
        GrpcCode::Unauthenticated,
    ];

    /// The code for a numeric `grpc-status`; numbers outside the spec are `Unknown`.
    pub fn from_u32(code: u32) -> GrpcCode {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .unwrap_or(GrpcCode::Unknown)
    }

    /// Parses the value of a `grpc-status` header or trailer.
    pub fn from_header(value: &HeaderValue) -> GrpcCode {
        std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .map_or(GrpcCode::Unknown, GrpcCode::from_u32)
    }

    /// The `grpc-status` of a header or trailer block; `None` when it has none.
    pub fn from_headers(headers: &HeaderMap) -> Option<GrpcCode> {
        headers.get(STATUS_HEADER).map(GrpcCode::from_header)
    }

    /// The code a gRPC client reports for a response with this HTTP status and no
    /// `grpc-status`, per the gRPC spec's "HTTP to gRPC Status Code Mapping".
    pub fn from_http_status(status: u16) -> GrpcCode {
        match status {
            400 => GrpcCode::Internal,
            401 => GrpcCode::Unauthenticated,
            403 => GrpcCode::PermissionDenied,
            404 => GrpcCode::Unimplemented,
            429 | 502 | 503 | 504 => GrpcCode::Unavailable,
            _ => GrpcCode::Unknown,
        }
    }

    /// The HTTP status a transcoded (HTTP/JSON) call answers with when the upstream ends
    /// it with this code: the mapping of `google/rpc/code.proto`, which grpc-gateway and
    /// Envoy's transcoder also use.
    pub fn to_http_status(self) -> http::StatusCode {
        use http::StatusCode as H;
        match self {
            GrpcCode::Ok => H::OK,
            GrpcCode::Cancelled => H::from_u16(499).unwrap_or(H::BAD_REQUEST),
            GrpcCode::Unknown | GrpcCode::Internal | GrpcCode::DataLoss => H::INTERNAL_SERVER_ERROR,
            GrpcCode::InvalidArgument | GrpcCode::FailedPrecondition | GrpcCode::OutOfRange => {
                H::BAD_REQUEST
            }
            GrpcCode::DeadlineExceeded => H::GATEWAY_TIMEOUT,
            GrpcCode::NotFound => H::NOT_FOUND,
            GrpcCode::AlreadyExists | GrpcCode::Aborted => H::CONFLICT,
            GrpcCode::PermissionDenied => H::FORBIDDEN,
            GrpcCode::ResourceExhausted => H::TOO_MANY_REQUESTS,
            GrpcCode::Unimplemented => H::NOT_IMPLEMENTED,
            GrpcCode::Unavailable => H::SERVICE_UNAVAILABLE,
            GrpcCode::Unauthenticated => H::UNAUTHORIZED,
        }
    }

    /// The numeric value of the code.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The `grpc-status` header value of the code.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from(self as u32)
    }

    /// The spec's upper-case name (`PERMISSION_DENIED`), as used in logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            GrpcCode::Ok => "OK",
            GrpcCode::Cancelled => "CANCELLED",
            GrpcCode::Unknown => "UNKNOWN",
            GrpcCode::InvalidArgument => "INVALID_ARGUMENT",
            GrpcCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            GrpcCode::NotFound => "NOT_FOUND",
            GrpcCode::AlreadyExists => "ALREADY_EXISTS",
            GrpcCode::PermissionDenied => "PERMISSION_DENIED",
            GrpcCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            GrpcCode::FailedPrecondition => "FAILED_PRECONDITION",
            GrpcCode::Aborted => "ABORTED",
            GrpcCode::OutOfRange => "OUT_OF_RANGE",
            GrpcCode::Unimplemented => "UNIMPLEMENTED",
            GrpcCode::Internal => "INTERNAL",
            GrpcCode::Unavailable => "UNAVAILABLE",
            GrpcCode::DataLoss => "DATA_LOSS",
            GrpcCode::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

/// A gRPC call's request to `uri` (`/package.Service/Method`): `POST`, `content-type:
/// application/grpc` and `te: trailers`. The caller adds metadata and a deadline.
pub fn request<B>(uri: http::Uri, body: B) -> http::Request<B> {
    let mut req = http::Request::new(body);
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_PREFIX),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    req
}

/// Whether the headers announce a gRPC call (`content-type: application/grpc...`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(CONTENT_TYPE_PREFIX.as_bytes()))
}

/// Writes a call's status into a header or trailer block: `grpc-status`, and `grpc-message`
/// (percent-encoded) unless `message` is empty.
pub fn insert_status(headers: &mut HeaderMap, code: GrpcCode, message: &str) {
    headers.insert(STATUS_HEADER, code.header_value());
    if !message.is_empty() {
        headers.insert(MESSAGE_HEADER, encode_message(message));
    }
}

/// Percent-encodes a status message for `grpc-message`, as the gRPC spec requires:
/// every byte outside printable ASCII, and `%` itself, becomes `%XX`.
pub fn encode_message(message: &str) -> HeaderValue {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // Only visible ASCII remains, which is always a valid header value.
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Decodes a `grpc-message` value: `%XX` escapes become bytes, read as UTF-8 (invalid
/// sequences replaced); a malformed escape is kept as written.
pub fn decode_message(value: &HeaderValue) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_numbers() {
        for code in GrpcCode::ALL {
            assert_eq!(GrpcCode::from_u32(code.as_u32()), code);
            assert_eq!(GrpcCode::from_header(&code.header_value()), code);
        }
        assert_eq!(GrpcCode::from_u32(99), GrpcCode::Unknown);
        assert_eq!(
            GrpcCode::from_header(&HeaderValue::from_static("x")),
            GrpcCode::Unknown
        );
    }

    #[test]
    fn http_statuses_map_as_the_grpc_spec_says() {
        let cases = [
            (200, GrpcCode::Unknown),
            (400, GrpcCode::Internal),
            (401, GrpcCode::Unauthenticated),
            (403, GrpcCode::PermissionDenied),
            (404, GrpcCode::Unimplemented),
            (429, GrpcCode::Unavailable),
            (500, GrpcCode::Unknown),
            (502, GrpcCode::Unavailable),
            (503, GrpcCode::Unavailable),
            (504, GrpcCode::Unavailable),
        ];
        for (status, code) in cases {
            assert_eq!(GrpcCode::from_http_status(status), code, "{status}");
        }
    }

    #[test]
    fn codes_map_to_http_statuses_as_google_rpc_code_says() {
        let table = [
            (0, 200),
            (1, 499),
            (2, 500),
            (3, 400),
            (4, 504),
            (5, 404),
            (6, 409),
            (7, 403),
            (8, 429),
            (9, 400),
            (10, 409),
            (11, 400),
            (12, 501),
            (13, 500),
            (14, 503),
            (15, 500),
            (16, 401),
        ];
        for (code, http) in table {
            let status = GrpcCode::from_u32(code).to_http_status();
            assert_eq!(status.as_u16(), http, "code {code}");
        }
    }

    #[test]
    fn status_is_written_and_read_back() {
        let mut headers = HeaderMap::new();
        assert_eq!(GrpcCode::from_headers(&headers), None);
        insert_status(&mut headers, GrpcCode::NotFound, "");
        assert_eq!(GrpcCode::from_headers(&headers), Some(GrpcCode::NotFound));
        assert!(!headers.contains_key(MESSAGE_HEADER));
        insert_status(&mut headers, GrpcCode::Unavailable, "50% off");
        assert_eq!(headers[STATUS_HEADER], "14");
        assert_eq!(headers[MESSAGE_HEADER], "50%25 off");
    }

    #[test]
    fn message_is_percent_encoded() {
        assert_eq!(encode_message("no route"), "no route");
        assert_eq!(encode_message("50% ü\n"), "50%25 %C3%BC%0A");
    }

    #[test]
    fn message_decodes_escapes_and_keeps_malformed_ones() {
        assert_eq!(decode_message(&encode_message("50% ü\n")), "50% ü\n");
        assert_eq!(
            decode_message(&HeaderValue::from_static("not%20today")),
            "not today"
        );
        assert_eq!(
            decode_message(&HeaderValue::from_static("100%z%")),
            "100%z%"
        );
    }

    #[test]
    fn grpc_content_types_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!is_grpc(&headers));
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        assert!(is_grpc(&headers));
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(!is_grpc(&headers));
    }
}
