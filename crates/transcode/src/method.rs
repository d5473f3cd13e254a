//! A method a transcoding route can call.

use prost_reflect::MethodDescriptor;

/// One method of the descriptors, with its gRPC path.
#[derive(Clone, Debug)]
pub struct Method {
    descriptor: MethodDescriptor,
    path: String,
}

impl Method {
    pub(crate) fn new(descriptor: MethodDescriptor) -> Method {
        let path = format!(
            "/{}/{}",
            descriptor.parent_service().full_name(),
            descriptor.name()
        );
        Method { descriptor, path }
    }

    /// The gRPC path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
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
