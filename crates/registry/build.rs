//! Compiles `proto/yardmaster/registry/v1/registry.proto` with protox (pure Rust, no
//! `protoc`) and generates the prost messages plus the tonic client and server.

use std::error::Error;
use std::path::PathBuf;

/// The proto file this crate owns, relative to the proto include root.
const REGISTRY_PROTO: &str = "yardmaster/registry/v1/registry.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join("yardmaster/registry").display()
    );

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_file(REGISTRY_PROTO)?;
    tonic_prost_build::configure()
        // Deterministic order for `List` and `Watch` replies and for tests.
        .btree_map(".")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
