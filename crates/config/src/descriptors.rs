//! Protobuf descriptors from the files a route names: `.proto` files compiled at startup
//! (pure Rust, protox; no `protoc`) or a serialized `FileDescriptorSet`. The one place
//! the configuration turns files into descriptors.

use std::path::{Path, PathBuf};

use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};
use protox::prost_reflect::DescriptorPool;

/// The `google.api.http` option's protos, which annotated services import.
struct GoogleApiFiles;

impl FileResolver for GoogleApiFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let source = match name {
            "google/api/http.proto" => include_str!("../../../proto/google/api/http.proto"),
            "google/api/annotations.proto" => {
                include_str!("../../../proto/google/api/annotations.proto")
            }
            _ => return Err(protox::Error::file_not_found(name)),
        };
        File::from_source(name, source)
    }
}

/// Compiles `files` with everything they import. Each file's directory is an import root,
/// and the well-known types (`google/protobuf/*.proto`) and `google/api/http.proto` and
/// `annotations.proto` are built in (a copy on an import root wins). Blocks on file I/O.
///
/// # Errors
///
/// One line saying which file does not compile and why.
pub fn compile_proto_files(files: &[PathBuf]) -> Result<DescriptorPool, String> {
    // protox says a missing file "is not in any include path"; say what is wrong.
    if let Some((file, error)) = files
        .iter()
        .find_map(|f| std::fs::metadata(f).err().map(|e| (f, e)))
    {
        return Err(format!("reading {}: {error}", file.display()));
    }
    let includes = files.iter().filter_map(|f| f.parent()).map(|dir| {
        if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }
    });
    let mut resolver = ChainFileResolver::new();
    for include in includes {
        resolver.add(IncludeFileResolver::new(include.to_owned()));
    }
    resolver.add(GoogleFileResolver::new());
    resolver.add(GoogleApiFiles);
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    // The comments become the descriptions of the transcoding route's OpenAPI document.
    compiler.include_source_info(true);
    compiler
        .open_files(files)
        .map_err(|e| format!("compiling {}: {}", show_paths(files), located(&e)))?;
    Ok(compiler.descriptor_pool())
}

/// A compile error with the file, line and column it points at, when it has them:
/// `users.proto:2:16: name 'strin' is not defined`.
fn located(error: &protox::Error) -> String {
    use miette::Diagnostic as _;
    let position = error
        .source_code()
        .zip(error.labels().and_then(|mut labels| labels.next()))
        .and_then(|(source, label)| source.read_span(label.inner(), 0, 0).ok())
        .map(|span| (span.line() + 1, span.column() + 1));
    match (error.file(), position) {
        (Some(file), Some((line, column))) => format!("{file}:{line}:{column}: {error}"),
        _ => error.to_string(),
    }
}

/// Reads a serialized `google.protobuf.FileDescriptorSet` (`protoc --include_imports
/// --descriptor_set_out`, `buf build -o`). Blocks on file I/O.
///
/// # Errors
///
/// When the file cannot be read or is not a complete descriptor set.
pub fn read_descriptor_set(path: &Path) -> Result<DescriptorPool, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    DescriptorPool::decode(bytes.as_slice()).map_err(|e| {
        format!(
            "{} is not a complete FileDescriptorSet (build it with its imports): {e}",
            path.display()
        )
    })
}

pub(crate) fn show_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}
