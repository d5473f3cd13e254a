//! TLS listeners: ALPN picks h2 (gRPC) or HTTP/1.1, plaintext clients are turned away
//! without harm, and unusable certificate files stop startup with a clear error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};
use yardmaster::Gateway;
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{HttpUpstream, TestGateway, TestUpstream, HANG_LIMIT};

/// A self-signed certificate for `localhost`, written as PEM files into a temporary
/// directory that lives as long as this value.
struct TestCert {
    dir: TempDir,
    cert_file: PathBuf,
    key_file: PathBuf,
    der: CertificateDer<'static>,
}

impl TestCert {
    fn generate() -> TestCert {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_file = dir.path().join("gateway.pem");
        let key_file = dir.path().join("gateway-key.pem");
        std::fs::write(&cert_file, certified.cert.pem()).unwrap();
        std::fs::write(&key_file, certified.signing_key.serialize_pem()).unwrap();
        TestCert {
            dir,
            cert_file,
            key_file,
            der: certified.cert.der().clone(),
        }
    }

    /// A client connector that trusts only this certificate and offers `alpn`.
    fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

/// A fresh certificate, the gRPC and HTTP upstreams, and a gateway serving TLS with them
/// per [`config`]; the upstreams serve while it is held.
struct TlsGateway {
    cert: TestCert,
    echo: TestUpstream,
    _web: HttpUpstream,
    gateway: TestGateway,
}

impl TlsGateway {
    async fn start() -> TlsGateway {
        let cert = TestCert::generate();
        let (echo, web) = (
            TestUpstream::echo("echo").await,
            HttpUpstream::start("web").await,
        );
        let gateway = TestGateway::start(&config(
            &cert.cert_file,
            &cert.key_file,
            echo.addr(),
            web.addr(),
        ))
        .await;
        TlsGateway {
            cert,
            echo,
            _web: web,
            gateway,
        }
    }
}

/// Listener `secure` with TLS from `cert_file`/`key_file`: `/web/` goes to an HTTP/1
/// cluster, everything else to the echo cluster.
fn config(cert_file: &Path, key_file: &Path, echo: SocketAddr, web: SocketAddr) -> String {
    format!(
        r#"
listeners:
  - name: secure
    listen: 127.0.0.1:0
    tls:
      cert_file: {}
      key_file: {}
    routes:
      - match: {{ path: {{ prefix: /web/ }} }}
        forward: {{ cluster: web, rewrite: {{ path_prefix: / }} }}
      - forward: {{ cluster: echo }}
clusters:
  - name: echo
    endpoints: [{echo}]
  - name: web
    protocol: http1
    endpoints: [{web}]
"#,
        cert_file.display(),
        key_file.display()
    )
}

async fn tls_connect(connector: &TlsConnector, addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    timeout(HANG_LIMIT, connector.connect(name, tcp))
        .await
        .expect("TLS handshake in time")
        .expect("TLS handshake")
}

/// A tonic client whose every connection is TLS to `addr`; records the ALPN protocol the
/// gateway chose.
async fn tls_echo_client(
    connector: TlsConnector,
    addr: SocketAddr,
) -> (EchoClient<Channel>, Arc<Mutex<Option<Vec<u8>>>>) {
    let negotiated = Arc::new(Mutex::new(None));
    let seen = negotiated.clone();
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_uri| {
            let (connector, seen) = (connector.clone(), seen.clone());
            async move {
                let tls = tls_connect(&connector, addr).await;
                *seen.lock().unwrap() = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .expect("connecting over TLS");
    (EchoClient::new(channel), negotiated)
}

#[tokio::test]
async fn grpc_call_over_tls_negotiates_h2() {
    let TlsGateway {
        cert,
        echo,
        _web,
        gateway,
    } = TlsGateway::start().await;

    let (mut client, negotiated) = tls_echo_client(cert.connector(&[b"h2"]), gateway.addr()).await;
    let reply = timeout(
        HANG_LIMIT,
        client.unary(EchoRequest {
            message: "over tls".into(),
            ..EchoRequest::default()
        }),
    )
    .await
    .expect("call in time")
    .expect("gRPC call over TLS")
    .into_inner();

    assert_eq!(
        (reply.message.as_str(), reply.served_by.as_str()),
        ("over tls", "echo")
    );
    assert_eq!(negotiated.lock().unwrap().as_deref(), Some(&b"h2"[..]));
    assert_eq!(echo.stats().calls(), 1);
}

#[tokio::test]
async fn http1_client_over_tls_negotiates_http1_and_is_forwarded_as_https() {
    let TlsGateway {
        cert,
        echo: _echo,
        _web,
        gateway,
    } = TlsGateway::start().await;

    let tls = tls_connect(&cert.connector(&[b"http/1.1"]), gateway.addr()).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, connection) = http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(connection);
    let req = Request::get("/web/page")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = timeout(HANG_LIMIT, sender.send_request(req))
        .await
        .expect("response in time")
        .unwrap();

    assert_eq!(
        (response.status(), response.version()),
        (StatusCode::OK, Version::HTTP_11)
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let seen: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["path"], "/page");
    assert_eq!(seen["headers"]["x-forwarded-proto"][0], "https");
    assert_eq!(seen["headers"]["via"][0], "1.1 yardmaster");
}

/// A client that speaks plain HTTP to the TLS port gets its connection closed without an
/// HTTP response, and the listener keeps serving TLS clients.
#[tokio::test]
async fn plaintext_client_on_tls_port_is_closed_and_listener_keeps_serving() {
    let TlsGateway {
        cert,
        echo: _echo,
        _web,
        gateway,
    } = TlsGateway::start().await;

    let mut plain = TcpStream::connect(gateway.addr()).await.unwrap();
    plain
        .write_all(b"GET /web/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // EOF or a reset both end the read; either way the connection is over.
    let _ = timeout(HANG_LIMIT, plain.read_to_end(&mut answer))
        .await
        .expect("connection closed in time");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plaintext client got an HTTP answer: {:?}",
        String::from_utf8_lossy(&answer)
    );

    let (mut client, _) = tls_echo_client(cert.connector(&[b"h2"]), gateway.addr()).await;
    let reply = timeout(HANG_LIMIT, client.unary(EchoRequest::default()))
        .await
        .expect("call in time")
        .expect("TLS call after the plaintext client");
    assert_eq!(reply.into_inner().served_by, "echo");
}

/// The error `Gateway::bind` gives for `yaml`, with its whole context chain.
async fn bind_error(yaml: &str) -> String {
    let config = yardmaster_config::from_str(yaml, "test.yaml").unwrap();
    match Gateway::bind(config).await {
        Ok(_) => panic!("the gateway started with unusable TLS files"),
        Err(error) => format!("{error:#}"),
    }
}

#[tokio::test]
async fn missing_or_invalid_certificate_files_are_clear_startup_errors() {
    let cert = TestCert::generate();
    let missing = cert.dir.path().join("missing.pem");
    let garbage = cert.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let echo: SocketAddr = "127.0.0.1:50051".parse().unwrap();
    let cases = [
        (
            &missing,
            &cert.key_file,
            format!(
                "loading TLS for listener \"secure\": reading certificates from {}: ",
                missing.display()
            ),
        ),
        (
            &garbage,
            &cert.key_file,
            format!(
                "loading TLS for listener \"secure\": {} contains no PEM certificate",
                garbage.display()
            ),
        ),
        (
            &cert.cert_file,
            &missing,
            format!(
                "loading TLS for listener \"secure\": reading private key from {}: ",
                missing.display()
            ),
        ),
        (
            &cert.cert_file,
            &garbage,
            format!(
                "loading TLS for listener \"secure\": reading private key from {}: ",
                garbage.display()
            ),
        ),
    ];

    for (cert_file, key_file, expected) in cases {
        let error = bind_error(&config(cert_file, key_file, echo, echo)).await;
        assert!(
            error.starts_with(&expected),
            "{error:?} does not start with {expected:?}"
        );
    }
}
