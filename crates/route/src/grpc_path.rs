//! The `/package.Service/Method` path of a gRPC call.

/// Service and method of a gRPC call, borrowed from the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcPath<'a> {
    /// Fully qualified service, `package.Service`.
    pub service: &'a str,
    /// Method name.
    pub method: &'a str,
}

impl<'a> GrpcPath<'a> {
    /// Splits a path of the form `/service/method`; `None` for any other shape.
    pub fn parse(path: &'a str) -> Option<GrpcPath<'a>> {
        let rest = path.strip_prefix('/')?;
        let (service, method) = rest.split_once('/')?;
        if service.is_empty() || method.is_empty() || method.contains('/') {
            return None;
        }
        Some(GrpcPath { service, method })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_service_and_method() {
        assert_eq!(
            GrpcPath::parse("/users.v1.Users/Get"),
            Some(GrpcPath {
                service: "users.v1.Users",
                method: "Get"
            })
        );
        for bad in ["", "/", "/svc", "/svc/", "//m", "/a/b/c", "svc/m"] {
            assert_eq!(GrpcPath::parse(bad), None, "{bad:?}");
        }
    }
}
