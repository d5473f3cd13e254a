//! `load`: reading the file, naming it in errors, resolving relative TLS paths.

use std::path::{Path, PathBuf};

use yardmaster_config::{from_str, load};

/// A directory of its own under the system temp directory, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("yardmaster-config-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TLS: &str = "\
listeners:
  - name: tls
    listen: 127.0.0.1:8443
    tls:
      cert_file: certs/gateway.pem
      key_file: /etc/yardmaster/gateway-key.pem
";

#[test]
fn resolves_relative_tls_paths_against_the_file() {
    let dir = TempDir::new("tls");
    let path = dir.write("gateway.yaml", TLS.as_bytes());
    let config = load(&path).unwrap();
    let tls = config.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.cert_file, dir.0.join("certs/gateway.pem"));
    assert_eq!(tls.key_file, Path::new("/etc/yardmaster/gateway-key.pem"));
}

#[test]
fn from_str_keeps_tls_paths_as_written() {
    let config = from_str(TLS, "gateway.yaml").unwrap();
    let tls = config.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.cert_file, Path::new("certs/gateway.pem"));
}

#[test]
fn names_the_file_in_errors() {
    let dir = TempDir::new("errors");
    let path = dir.write("gateway.yaml", b"listeners: []\n");
    let error = load(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1:12: listeners: at least one listener is required",
            path.display()
        )
    );
}

#[test]
fn unreadable_file_names_the_file_and_the_os_error() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("missing.yaml");
    let os_error = std::fs::read(&path).unwrap_err();
    let error = load(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}: cannot read: {os_error}", path.display())
    );
}

#[test]
fn non_utf8_file_points_at_the_first_bad_byte() {
    let dir = TempDir::new("utf8");
    let path = dir.write("gateway.yaml", b"listeners:\n  - name: caf\xc3\xa9 \xff\n");
    let error = load(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}:2:16: the file is not valid UTF-8 text", path.display())
    );
}
