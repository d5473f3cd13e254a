//! Compiles `proto/yardmaster/demo/v1/echo.proto` with protox (pure Rust, no `protoc`) and
//! generates the prost messages plus the tonic client and server.

use std::error::Error;
use std::path::PathBuf;

/// The proto file this crate owns, relative to the proto include root.
const ECHO_PROTO: &str = "yardmaster/demo/v1/echo.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join("yardmaster/demo").display()
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
    Ok(())
}
