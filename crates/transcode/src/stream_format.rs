//! How a stream of reply messages is written over plain HTTP: newline-delimited JSON
//! (`{"result": …}` per line, as grpc-gateway writes it) or Server-Sent Events (a
//! `data:` event per message), chosen by the request's `Accept`; a stream that fails ends
//! with the status (`{"error": …}`, or an `error` event), never silently.

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;

/// The framing of a reply stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    /// `application/x-ndjson`: one JSON object per line.
    Ndjson,
    /// `text/event-stream`: one event per message.
    ServerSentEvents,
}

const EVENT_STREAM: &str = "text/event-stream";

impl StreamFormat {
    /// Server-Sent Events when `accept` names `text/event-stream`, NDJSON otherwise.
    pub fn from_accept(accept: Option<&HeaderValue>) -> StreamFormat {
        let wants_events = accept
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value.split(',').any(|range| {
                    let essence = range.split(';').next().unwrap_or_default().trim();
                    essence.eq_ignore_ascii_case(EVENT_STREAM)
                })
            });
        if wants_events {
            StreamFormat::ServerSentEvents
        } else {
            StreamFormat::Ndjson
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> HeaderValue {
        match self {
            StreamFormat::Ndjson => HeaderValue::from_static("application/x-ndjson"),
            StreamFormat::ServerSentEvents => HeaderValue::from_static(EVENT_STREAM),
        }
    }

    /// One reply message, `json` being its JSON (on one line, as serde_json writes it).
    pub fn message(self, json: &[u8]) -> Bytes {
        match self {
            StreamFormat::Ndjson => wrap(br#"{"result":"#, json, b"}\n"),
            StreamFormat::ServerSentEvents => wrap(b"data: ", json, b"\n\n"),
        }
    }

    /// The status a failed stream ends with, `status` being its `google.rpc.Status` JSON.
    pub fn error(self, status: &[u8]) -> Bytes {
        match self {
            StreamFormat::Ndjson => wrap(br#"{"error":"#, status, b"}\n"),
            StreamFormat::ServerSentEvents => wrap(b"event: error\ndata: ", status, b"\n\n"),
        }
    }
}

fn wrap(before: &[u8], json: &[u8], after: &[u8]) -> Bytes {
    let mut chunk = BytesMut::with_capacity(before.len() + json.len() + after.len());
    chunk.put_slice(before);
    chunk.put_slice(json);
    chunk.put_slice(after);
    chunk.freeze()
}

#[cfg(test)]
mod tests;
