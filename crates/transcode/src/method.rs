//! A method a transcoding route can call.

use http::uri::PathAndQuery;
use prost_reflect::MethodDescriptor;

/// One method of the descriptors, with its gRPC path.
#[derive(Clone, Debug)]
pub struct Method {
    descriptor: MethodDescriptor,
    /// The gRPC path, built once: every call's request carries it.
    path: PathAndQuery,
}

impl Method {
    pub(crate) fn new(descriptor: MethodDescriptor) -> Method {
        let path = format!(
            "/{}/{}",
            descriptor.parent_service().full_name(),
            descriptor.name()
        );
        // Full names are identifiers joined by dots: always a valid path.
        let path = PathAndQuery::try_from(path).unwrap_or_else(|_| PathAndQuery::from_static("/"));
        Method { descriptor, path }
    }

    /// The gRPC path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        self.path.as_str()
    }

    /// The gRPC path, ready for a request's URI.
    pub fn path_and_query(&self) -> &PathAndQuery {
        &self.path
    }

    /// Whether one request message gets one reply message.
    pub fn is_unary(&self) -> bool {
        !self.descriptor.is_client_streaming() && !self.descriptor.is_server_streaming()
    }

    /// Whether the reply is a stream of messages.
    pub fn is_server_streaming(&self) -> bool {
        self.descriptor.is_server_streaming()
    }

    /// Whether the request is a stream of messages.
    pub fn is_client_streaming(&self) -> bool {
        self.descriptor.is_client_streaming()
    }

    pub(crate) fn descriptor(&self) -> &MethodDescriptor {
        &self.descriptor
    }
}
