use super::*;

/// The page that shows the table to people.
const DOC: &str = include_str!("../../../../docs/statuses.md");

/// HTTP/2 error codes by number (RFC 9113 section 7), as the doc names them.
const H2_CODES: [&str; 14] = [
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
];

/// Every cause, in the doc's order; a reset once per HTTP/2 code and once for a code
/// past them.
fn causes() -> Vec<Cause> {
    let resets = (0..=H2_CODES.len()).map(|reason| Cause::Reset(reason as u32));
    let mut causes = vec![
        Cause::NoRoute,
        Cause::Denied {
            grpc: GrpcCode::PermissionDenied,
            http: StatusCode::FORBIDDEN,
        },
        Cause::NoEndpoint,
        Cause::ConnectFailed,
        Cause::Overflow,
        Cause::AttemptTimeout,
        Cause::DeadlineExceeded,
    ];
    causes.extend(resets);
    causes.extend([
        Cause::ConnectionLost,
        Cause::MissingStatus,
        Cause::MissingTrailers,
        Cause::AllFailed(GrpcCode::Unavailable),
        Cause::MessageTooLarge,
        Cause::BadFrame,
        Cause::BadMessage,
        Cause::Compressed,
        Cause::NoTarget,
        Cause::NotGrpc,
        Cause::UpgradeUnsupported,
        Cause::DownstreamError,
        Cause::BadJson,
        Cause::NotJson,
        Cause::WrongHttpMethod,
        Cause::NoDescriptors,
        Cause::BadReply,
    ]);
    causes
}

/// The doc's first column. A `match`, so a new cause does not build until it is named
/// here; then add it to [`causes`] and to the doc.
fn name(cause: Cause) -> String {
    let name = match cause {
        Cause::NoRoute => "no route matches",
        Cause::Denied { .. } => "a `deny` route",
        Cause::NoEndpoint => "no endpoint to send to",
        Cause::ConnectFailed => "connecting to the endpoint failed",
        Cause::Overflow => "a circuit breaker limit (overflow)",
        Cause::AttemptTimeout => "`attempt_timeout` passed",
        Cause::DeadlineExceeded => "the call's deadline passed",
        Cause::Reset(reason) => {
            let code = usize::try_from(reason).ok().and_then(|i| H2_CODES.get(i));
            return match code {
                Some(code) => format!("upstream reset `{code}`"),
                None => "upstream reset, another code".to_owned(),
            };
        }
        Cause::ConnectionLost => "upstream connection lost",
        Cause::MissingStatus => "upstream trailers without `grpc-status`",
        Cause::MissingTrailers => "upstream reply without trailers",
        Cause::AllFailed(_) => "fan-out: every endpoint failed",
        Cause::MessageTooLarge => "message over `max_message_bytes`",
        Cause::BadFrame => "not gRPC framing",
        Cause::BadMessage => "message not valid protobuf",
        Cause::Compressed => "compressed message",
        Cause::NoTarget => "mirror: no target for the message type",
        Cause::NotGrpc => "not a gRPC call",
        Cause::UpgradeUnsupported => "protocol upgrade to an HTTP/2 cluster",
        Cause::DownstreamError => "the downstream went away or its request failed",
        Cause::BadJson => "transcoding: the body is not the request's JSON",
        Cause::NotJson => "transcoding: the body is not `application/json`",
        Cause::WrongHttpMethod => "transcoding: the method is bound to another HTTP method",
        Cause::NoDescriptors => "transcoding: descriptors not loaded yet",
        Cause::BadReply => "transcoding: the reply is not one reply message",
    };
    name.to_owned()
}

/// One row of the doc's table, rendered from the code's table. The statuses a `deny`
/// route and a failed fan-out carry are named, not shown by example.
fn row(cause: Cause) -> String {
    let status = cause.status();
    let (grpc, http, outcome) = match cause {
        Cause::Denied { .. } => (
            "the route's `grpc_status`".to_owned(),
            "the route's `http_status`".to_owned(),
            "either, as sent".to_owned(),
        ),
        Cause::AllFailed(_) => (
            "the first failure's".to_owned(),
            status.http.as_u16().to_string(),
            format!("the first failure's or `{}`", status.http.as_u16()),
        ),
        _ => (
            format!("{} ({})", status.grpc.name(), status.grpc.as_u32()),
            status.http.as_u16().to_string(),
            format!("`{}` or `{}`", status.grpc.name(), status.http.as_u16()),
        ),
    };
    let fault = status.fault.as_str();
    format!(
        "| {} | {grpc} | {http} | {outcome} | {fault} |",
        name(cause)
    )
}

#[test]
fn doc_table_is_the_code_table() {
    let doc: Vec<&str> = DOC
        .lines()
        .skip_while(|line| !line.starts_with("| cause |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect();
    let code: Vec<String> = causes().into_iter().map(row).collect();
    for (doc, code) in doc.iter().zip(&code) {
        assert_eq!(
            doc, code,
            "a row of docs/statuses.md is not Cause::status's"
        );
    }
    assert_eq!(doc.len(), code.len(), "rows of docs/statuses.md");
}

#[test]
fn resets_map_as_the_grpc_spec_says() {
    let code = |reason: u32| Cause::Reset(reason).status().grpc;
    assert_eq!(code(0x0), GrpcCode::Internal);
    assert_eq!(code(0x7), GrpcCode::Unavailable);
    assert_eq!(code(0x8), GrpcCode::Cancelled);
    assert_eq!(code(0xb), GrpcCode::ResourceExhausted);
    assert_eq!(code(0xc), GrpcCode::PermissionDenied);
    assert_eq!(code(0x5), GrpcCode::Unknown);
    assert_eq!(code(0xff), GrpcCode::Unknown);
}

#[test]
fn carried_statuses_are_kept() {
    let denied = Cause::Denied {
        grpc: GrpcCode::Unavailable,
        http: StatusCode::from_u16(451).unwrap(),
    };
    assert_eq!(denied.status().grpc, GrpcCode::Unavailable);
    assert_eq!(denied.status().http.as_u16(), 451);
    let all_failed = Cause::AllFailed(GrpcCode::FailedPrecondition);
    assert_eq!(all_failed.status().grpc, GrpcCode::FailedPrecondition);
}
