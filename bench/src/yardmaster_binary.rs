//! The Yardmaster binary under test: the release build in this bench binary's own target
//! directory, built with cargo first unless asked not to.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};

/// The release `yardmaster` binary in this binary's target directory
/// (`<target dir>/release/yardmaster`), built first unless `build` is false. Blocks for
/// the build; an error when it fails or the binary is not there.
pub(crate) fn yardmaster_binary(build: bool) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the bench binary")?;
    // This binary is `<target dir>/<profile>/yardmaster-bench`.
    let target_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the bench binary is not in a cargo target directory")?;
    if build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("building the release yardmaster binary ...");
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "yardmaster",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p yardmaster failed ({status})");
        }
    }
    let binary = target_dir.join("release").join("yardmaster");
    if !binary.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p yardmaster` (with the same \
             CARGO_TARGET_DIR) first",
            binary.display()
        );
    }
    Ok(binary)
}
