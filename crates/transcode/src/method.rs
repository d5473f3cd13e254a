//! The methods a transcoding route can call: every method of its descriptors, by gRPC
//! path (`/package.Service/Method`).

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, MethodDescriptor};

/// One method of the descriptors.
#[derive(Clone, Debug)]
pub struct Method {
    descriptor: MethodDescriptor,
    path: String,
}

impl Method {
    /// The gRPC path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether one request message gets one reply message.
    pub fn is_unary(&self) -> bool {
        !self.descriptor.is_client_streaming() && !self.descriptor.is_server_streaming()
    }

    pub(crate) fn descriptor(&self) -> &MethodDescriptor {
        &self.descriptor
    }
}

/// Every method of a descriptor pool, and the pool (whose types decode `Any` fields and
/// error details).
#[derive(Clone, Debug)]
pub struct Methods {
    pool: DescriptorPool,
    by_path: HashMap<String, Method>,
}

impl Methods {
    /// Indexes the methods of every service in `pool`.
    pub fn new(pool: DescriptorPool) -> Methods {
        let by_path = pool
            .services()
            .flat_map(|service| service.methods().collect::<Vec<_>>())
            .map(|descriptor| {
                let path = format!(
                    "/{}/{}",
                    descriptor.parent_service().full_name(),
                    descriptor.name()
                );
                (path.clone(), Method { descriptor, path })
            })
            .collect();
        Methods { pool, by_path }
    }

    /// The method at a gRPC path (`/package.Service/Method`).
    pub fn get(&self, path: &str) -> Option<&Method> {
        self.by_path.get(path)
    }

    /// The descriptors the methods come from.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }
}
