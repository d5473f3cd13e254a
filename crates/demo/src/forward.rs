//! `HttpEcho`: an `HttpForwarder` upstream for the forwarding envelope that describes the
//! HTTP request it was given, as JSON. A path ending in `/status/<code>` answers with that
//! status, and one ending in `/fail` ends the call with INTERNAL, so tests and the demo can show both paths.

use serde_json::{json, Map, Value};
use tonic::{Request, Response, Status};

use crate::forward_pb::http_forwarder_server::{HttpForwarder, HttpForwarderServer};
use crate::forward_pb::{Header, HttpRequest, HttpResponse};

/// Answers every forwarded request with a JSON description of it.
#[derive(Clone, Debug)]
pub struct HttpEcho {
    name: String,
}

impl HttpEcho {
    /// A forwarder that reports `name` in the `x-served-by` header.
    pub fn new(name: &str) -> HttpEcho {
        HttpEcho {
            name: name.to_owned(),
        }
    }

    /// The tonic server for it.
    pub fn server(self) -> HttpForwarderServer<HttpEcho> {
        HttpForwarderServer::new(self)
    }
}

#[tonic::async_trait]
impl HttpForwarder for HttpEcho {
    async fn forward(
        &self,
        request: Request<HttpRequest>,
    ) -> Result<Response<HttpResponse>, Status> {
        let request = request.into_inner();
        if request.path.ends_with("/fail") {
            return Err(Status::internal("the forwarder failed on purpose"));
        }
        let status = request
            .path
            .rsplit_once("/status/")
            .and_then(|(_, code)| code.parse().ok())
            .unwrap_or(200);
        let mut headers = Map::new();
        for header in &request.headers {
            let value = String::from_utf8_lossy(&header.value).into_owned();
            match headers.get_mut(&header.name) {
                Some(Value::Array(values)) => values.push(Value::String(value)),
                _ => {
                    headers.insert(header.name.clone(), json!([value]));
                }
            }
        }
        let description = json!({
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": headers,
            "body": String::from_utf8_lossy(&request.body),
            "remote_address": request.remote_address,
        });
        let header = |name: &str, value: &str| Header {
            name: name.to_owned(),
            value: value.as_bytes().to_vec().into(),
        };
        Ok(Response::new(HttpResponse {
            status,
            headers: vec![
                header("content-type", "application/json"),
                header("x-served-by", &self.name),
            ],
            body: description.to_string().into_bytes().into(),
        }))
    }
}
