//! Compiles `proto/yardmaster/demo/v1/echo.proto` and `proto/yardmaster/forward/v1/
//! forward.proto` with protox (pure Rust, no `protoc`) and generates the prost messages
//! plus the tonic clients and servers.

use std::error::Error;
use std::path::PathBuf;

/// The proto file this crate owns, relative to the proto include root.
const ECHO_PROTO: &str = "yardmaster/demo/v1/echo.proto";
/// The forwarding envelope, for the demo's HTTP forwarder upstream.
const FORWARD_PROTO: &str = "yardmaster/forward/v1/forward.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join("yardmaster/demo").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join(FORWARD_PROTO).display()
    );

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_file(ECHO_PROTO)?;
    std::fs::write(
        out_dir.join("echo_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        // `bytes::Bytes` payloads decode without copying out of tonic's buffer and can be
        // echoed back by reference count.
        .bytes(".")
        .compile_fds(compiler.file_descriptor_set())?;

    let mut forward = protox::Compiler::new([&proto_root])?;
    forward.open_file(FORWARD_PROTO)?;
    tonic_prost_build::configure()
        .bytes(".")
        .compile_fds(forward.file_descriptor_set())?;
    Ok(())
}
