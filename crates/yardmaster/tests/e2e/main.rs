//! End-to-end tests: the gateway in-process, real upstreams and real clients on loopback.

mod demo;
mod grpc_calls;
mod python_client;
mod smoke;
