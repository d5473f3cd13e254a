//! Compiles the bridge's upstream protocol (`proto/yardmaster/bridge/v1/bridge.proto`) and
//! the compatibility protocol (`proto/upstream/grpc/service/upstream_peer.proto`) with
//! protox (pure Rust, no `protoc`), generating prost messages plus tonic clients and servers.

use std::error::Error;
use std::path::PathBuf;

/// The proto files this crate owns, relative to the proto include root.
const PROTOS: [&str; 2] = [
    "yardmaster/bridge/v1/bridge.proto",
    "upstream/grpc/service/upstream_peer.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    for dir in ["yardmaster/bridge", "upstream"] {
        println!("cargo:rerun-if-changed={}", proto_root.join(dir).display());
    }

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_source_info(true).include_imports(true);
    for proto in PROTOS {
        compiler.open_file(proto)?;
    }
    tonic_prost_build::configure()
        // Payloads decode without copying out of tonic's buffer and pass to the TCP
        // client by reference count.
        .bytes(".")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
