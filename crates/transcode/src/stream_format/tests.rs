use http::HeaderValue;

use super::StreamFormat;

#[test]
fn accept_chooses_events_or_ndjson() {
    let format = |accept: Option<&'static str>| {
        StreamFormat::from_accept(accept.map(HeaderValue::from_static).as_ref())
    };
    assert_eq!(format(None), StreamFormat::Ndjson);
    assert_eq!(format(Some("*/*")), StreamFormat::Ndjson);
    assert_eq!(format(Some("application/x-ndjson")), StreamFormat::Ndjson);
    assert_eq!(
        format(Some("text/event-stream")),
        StreamFormat::ServerSentEvents
    );
    assert_eq!(
        format(Some("application/json;q=0.5, Text/Event-Stream; q=1")),
        StreamFormat::ServerSentEvents
    );
}

#[test]
fn messages_and_errors_are_framed_per_format() {
    let ndjson = StreamFormat::Ndjson;
    assert_eq!(
        &ndjson.message(br#"{"a":1}"#)[..],
        b"{\"result\":{\"a\":1}}\n"
    );
    assert_eq!(
        &ndjson.error(br#"{"code":14}"#)[..],
        b"{\"error\":{\"code\":14}}\n"
    );
    let events = StreamFormat::ServerSentEvents;
    assert_eq!(&events.message(br#"{"a":1}"#)[..], b"data: {\"a\":1}\n\n");
    assert_eq!(
        &events.error(br#"{"code":14}"#)[..],
        b"event: error\ndata: {\"code\":14}\n\n"
    );
}
