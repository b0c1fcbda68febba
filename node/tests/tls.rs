//! Client TLS: a listener with a certificate from `latticed gen-cert` serves a real TLS client,
//! and WHOIS tells others the connection is secure.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Read lines until one whose command (second word, or first without a source) is `command`.
async fn read_until<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R, command: &str) -> String {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(TIMEOUT, reader.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("no {command} within {TIMEOUT:?}; got {seen:#?}"))
            .expect("read");
        assert!(n > 0, "connection closed before {command}; got {seen:#?}");
        let words: Vec<&str> = line.split_whitespace().collect();
        let cmd = if line.starts_with(':') {
            words.get(1)
        } else {
            words.first()
        };
        if cmd == Some(&command) {
            return line;
        }
        seen.push(line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener_serves_a_tls_client() {
    latticed::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = latticed::tls::write_self_signed(dir.path(), &["localhost".to_owned()])
        .expect("self-signed certificate");
    let toml = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n[[tenants]]\nname = \"default\"\n\
         [[tenants.listeners]]\naddress = \"127.0.0.1:0\"\n\
         tls = {{ cert = {:?}, key = {:?} }}\n[tenants.flood]\nenabled = false\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let mut config =
        latticed_config::Config::from_toml_str(&toml, std::path::Path::new("tls.toml"))
            .expect("config");
    config.node.data_dir = dir.path().join("data");
    let node = latticed::start(config).await.expect("node starts");
    let addr = node.client_addrs("default")[0];

    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(&cert).expect("cert file") {
        roots
            .add(der.expect("cert"))
            .expect("trust the test certificate");
    }
    let client_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = TcpStream::connect(addr).await.expect("tcp connect");
    let server_name = ServerName::try_from("localhost").expect("name");
    let tls = connector
        .connect(server_name, tcp)
        .await
        .expect("TLS handshake");
    let (read, mut write) = tokio::io::split(tls);
    let mut reader = BufReader::new(read);
    write
        .write_all(b"NICK secure\r\nUSER s 0 * :Secure Client\r\n")
        .await
        .expect("write");
    read_until(&mut reader, "001").await;
    write.write_all(b"WHOIS secure\r\n").await.expect("write");
    let secure = read_until(&mut reader, "671").await;
    assert!(secure.contains("secure connection"), "{secure}");
    read_until(&mut reader, "318").await;

    let plain = TcpStream::connect(addr).await.expect("tcp connect");
    let (plain_read, mut plain_write) = plain.into_split();
    plain_write
        .write_all(b"NICK plain\r\nUSER p 0 * :Plain\r\n")
        .await
        .expect("write");
    let mut plain_reader = BufReader::new(plain_read);
    let mut line = String::new();
    let outcome = tokio::time::timeout(TIMEOUT, plain_reader.read_line(&mut line)).await;
    assert!(
        !matches!(outcome, Ok(Ok(n)) if n > 0 && line.contains(" 001 ")),
        "a plain-text client must not register on a TLS listener: {line}"
    );
    node.shutdown().await;
}

#[test]
fn gen_cert_writes_a_pair_that_a_tls_listener_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_latticed"))
        .args(["gen-cert", "--out"])
        .arg(dir.path())
        .args(["--name", "irc.example.test"])
        .output()
        .expect("run latticed gen-cert");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    latticed::tls::install_crypto_provider();
    latticed::tls::acceptor(&cert, &key).expect("the written pair loads as a TLS identity");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the private key must not be readable by others"
        );
    }
}
