//! The cluster's own certificate authority: one CA per cluster, one certificate per node.
//!
//! Every node certificate carries the node's name (its `node.name`) as a DNS subject alternative name
//! and is valid both as a TLS server and as a TLS client, because every node both dials and accepts
//! links. The certificates do not expire; to revoke a node, make a new CA and reissue the others.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::ServerName;

use crate::error::PkiError;

/// File name of the CA certificate written by [`write_ca`] (what `cluster.ca` points at).
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key written by [`write_ca`]; keep it off the nodes if you can.
pub const CA_KEY_FILE: &str = "ca.key";

/// A certificate and its private key, both PEM-encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct PemPair {
    /// The certificate, `-----BEGIN CERTIFICATE-----`.
    pub cert: String,
    /// The private key, `-----BEGIN PRIVATE KEY-----`.
    pub key: String,
}

impl std::fmt::Debug for PemPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemPair")
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Where [`write_ca`] or [`write_node_cert`] put the certificate and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFiles {
    /// The certificate file (mode 0644).
    pub cert: PathBuf,
    /// The private key file (mode 0600).
    pub key: PathBuf,
}

/// Makes a new cluster CA called `cluster_name` (1 to 64 printable characters): the trust root every
/// node of the cluster is configured with.
pub fn generate_ca(cluster_name: &str) -> Result<PemPair, PkiError> {
    check_cluster_name(cluster_name)?;
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, "latticed");
    subject.push(
        DnType::CommonName,
        format!("{cluster_name} latticed cluster CA"),
    );
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(|source| PkiError::Certificate {
        what: "generating the CA key",
        source,
    })?;
    let cert = params
        .self_signed(&key)
        .map_err(|source| PkiError::Certificate {
            what: "signing the CA certificate",
            source,
        })?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Issues a certificate for node `node_name` (its `node.name`, a DNS name), signed by the CA whose
/// certificate and key are given as PEM.
pub fn issue_node_cert(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    node_name: &str,
) -> Result<PemPair, PkiError> {
    check_node_name(node_name)?;
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|source| PkiError::Certificate {
        what: "reading the CA key",
        source,
    })?;
    let issuer =
        Issuer::from_ca_cert_pem(ca_cert_pem, ca_key).map_err(|source| PkiError::Certificate {
            what: "reading the CA certificate",
            source,
        })?;
    let mut params = CertificateParams::new(vec![node_name.to_owned()]).map_err(|source| {
        PkiError::Certificate {
            what: "preparing the node certificate",
            source,
        }
    })?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, "latticed");
    subject.push(DnType::CommonName, node_name);
    params.distinguished_name = subject;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(|source| PkiError::Certificate {
        what: "generating the node key",
        source,
    })?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| PkiError::Certificate {
            what: "signing the node certificate",
            source,
        })?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Makes a new CA and writes it to `dir` as [`CA_CERT_FILE`] and [`CA_KEY_FILE`]. Existing files are
/// never overwritten: replacing a CA would cut every node off its cluster.
pub fn write_ca(dir: &Path, cluster_name: &str) -> Result<PemFiles, PkiError> {
    let pair = generate_ca(cluster_name)?;
    write_pair(dir, CA_CERT_FILE, CA_KEY_FILE, &pair)
}

/// Issues a certificate for `node_name` with the CA stored in `ca_dir` (as written by [`write_ca`])
/// and writes it to `out_dir` as `<node_name>.pem` and `<node_name>.key`, never overwriting.
pub fn write_node_cert(
    ca_dir: &Path,
    node_name: &str,
    out_dir: &Path,
) -> Result<PemFiles, PkiError> {
    check_node_name(node_name)?;
    let ca_cert = read(&ca_dir.join(CA_CERT_FILE), "reading the CA certificate")?;
    let ca_key = read(&ca_dir.join(CA_KEY_FILE), "reading the CA key")?;
    let pair = issue_node_cert(&ca_cert, &ca_key, node_name)?;
    write_pair(
        out_dir,
        &format!("{node_name}.pem"),
        &format!("{node_name}.key"),
        &pair,
    )
}

fn check_cluster_name(name: &str) -> Result<(), PkiError> {
    let reason = if name.is_empty() || name.chars().count() > 64 {
        Some("use 1 to 64 characters")
    } else if name.chars().any(char::is_control) {
        Some("control characters are not allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(PkiError::InvalidClusterName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A node name must be a DNS name (not an IP address), since peers verify it as one.
fn check_node_name(name: &str) -> Result<(), PkiError> {
    match ServerName::try_from(name) {
        Ok(ServerName::DnsName(_)) => Ok(()),
        _ => Err(PkiError::InvalidNodeName {
            name: name.to_owned(),
        }),
    }
}

fn read(path: &Path, what: &'static str) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::File {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn write_pair(
    dir: &Path,
    cert_name: &str,
    key_name: &str,
    pair: &PemPair,
) -> Result<PemFiles, PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::File {
        what: "creating the directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let files = PemFiles {
        cert: dir.join(cert_name),
        key: dir.join(key_name),
    };
    for path in [&files.cert, &files.key] {
        if path.exists() {
            return Err(PkiError::File {
                what: "refusing to overwrite",
                path: path.clone(),
                source: std::io::ErrorKind::AlreadyExists.into(),
            });
        }
    }
    write_new(&files.key, pair.key.as_bytes(), 0o600, "writing the key")?;
    write_new(
        &files.cert,
        pair.cert.as_bytes(),
        0o644,
        "writing the certificate",
    )?;
    Ok(files)
}

/// Creates `path` (failing if it exists) with permission `mode` on Unix, and writes `contents`.
fn write_new(path: &Path, contents: &[u8], mode: u32, what: &'static str) -> Result<(), PkiError> {
    let error = |source| PkiError::File {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(error)?;
    file.write_all(contents).map_err(error)?;
    file.sync_all().map_err(error)
}
