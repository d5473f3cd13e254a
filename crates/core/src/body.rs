//! The one body type that flows between the downstream, the gateway and the upstream.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

/// A boxed, thread-safe error, as carried by [`Body`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streaming HTTP body of `Bytes` chunks (and trailers).
///
/// Boxing costs one allocation per call but lets a request or response be handed between
/// hops without each hop naming the concrete body it wraps.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body with no data and no trailers.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body of exactly `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Boxes any body whose error converts into a [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}
