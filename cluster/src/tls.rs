//! Mutual TLS for links, and the checks that tie a TLS session to a node's identity and the secret.
//!
//! Both sides present a certificate signed by the cluster CA. A dialer that knows whom it dials
//! verifies the server certificate against that name; a joining dialer accepts any name the CA signed
//! and checks the name the peer then claims in its Hello. The acceptor always checks the claimed name
//! against the client certificate after the Hello. The secret never crosses the wire: each side
//! proves it with TLS keying material exported under the secret, which is bound to this session (no
//! replay) and to the sender's role (no reflection).

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, TransportConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    verify_server_cert_signed_by_trust_anchor, verify_server_name, Resumption, WebPkiServerVerifier,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{NoServerSessionStorage, ParsedCertificate, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::ClusterError;
use crate::reject::RejectReason;
use crate::wire::{ALPN, PROOF_BYTES};

/// Exporter label for the secret proof (RFC 8446 §7.5).
const PROOF_LABEL: &[u8] = b"EXPORTER-latticed-cluster-secret";

/// Server name used when dialing a `--join` address, whose node name is not known yet. The
/// [`CaSignedAnyName`] verifier ignores it; the Hello's name is checked instead.
pub(crate) const JOIN_SERVER_NAME: &str = "join.latticed.invalid";

/// Which end of a link a proof is for, so a peer cannot answer with our own proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The side that dialed.
    Dialer,
    /// The side that accepted.
    Acceptor,
}

/// This node's TLS identity and trust root.
pub(crate) struct Tls {
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Tls {
    /// Parses the PEM texts and checks that the node certificate is signed by the CA and issued for
    /// `node_name`, so a wrong file is a start-up error instead of every link failing later.
    pub(crate) fn new(
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
        node_name: &str,
    ) -> Result<Self, ClusterError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let ca = certificates(ca_pem, "the cluster CA certificate")?;
        let mut roots = RootCertStore::empty();
        for cert in ca {
            roots.add(cert)?;
        }
        let chain = certificates(cert_pem, "the node certificate")?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|err| ClusterError::Pem {
                what: "the node key",
                reason: err.to_string(),
            })?;
        let tls = Self {
            provider,
            roots: Arc::new(roots),
            chain,
            key,
        };
        tls.check_own_certificate(node_name)?;
        Ok(tls)
    }

    fn check_own_certificate(&self, node_name: &str) -> Result<(), ClusterError> {
        let refuse = |reason: String| ClusterError::Pem {
            what: "the node certificate",
            reason,
        };
        let parsed = ParsedCertificate::try_from(&self.chain[0])?;
        verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            &self.chain[1..],
            UnixTime::now(),
            self.provider.signature_verification_algorithms.all,
        )
        .map_err(|err| refuse(format!("it is not signed by the cluster CA: {err}")))?;
        let name = ServerName::try_from(node_name)
            .map_err(|_| refuse(format!("{node_name:?} is not a DNS name")))?;
        verify_server_name(&parsed, &name).map_err(|_| {
            refuse(format!(
                "it was not issued for this node's name {node_name:?}"
            ))
        })
    }

    /// The endpoint's server side: TLS 1.3 only, a client certificate signed by the CA required.
    pub(crate) fn server_config(
        &self,
        transport: Arc<TransportConfig>,
    ) -> Result<quinn::ServerConfig, ClusterError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .build()
                .map_err(|err| ClusterError::Pem {
                    what: "the cluster CA certificate",
                    reason: err.to_string(),
                })?;
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        let crypto = QuicServerConfig::try_from(config).map_err(|err| ClusterError::Pem {
            what: "the TLS provider",
            reason: err.to_string(),
        })?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(transport);
        server.migration(false);
        Ok(server)
    }

    /// A client side that verifies the server against the CA and the name given to `connect`, or,
    /// with `any_name`, against the CA only (for `--join`).
    pub(crate) fn client_config(
        &self,
        transport: Arc<TransportConfig>,
        any_name: bool,
    ) -> Result<quinn::ClientConfig, ClusterError> {
        let verifier: Arc<dyn ServerCertVerifier> = if any_name {
            Arc::new(CaSignedAnyName {
                roots: self.roots.clone(),
                provider: self.provider.clone(),
            })
        } else {
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .build()
                .map_err(|err| ClusterError::Pem {
                    what: "the cluster CA certificate",
                    reason: err.to_string(),
                })?
        };
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.resumption = Resumption::disabled();
        let crypto = QuicClientConfig::try_from(config).map_err(|err| ClusterError::Pem {
            what: "the TLS provider",
            reason: err.to_string(),
        })?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(transport);
        Ok(client)
    }

    /// A random number from the TLS provider's secure generator (for the epoch).
    pub(crate) fn random_u64(&self) -> Result<u64, ClusterError> {
        let mut bytes = [0u8; 8];
        self.provider
            .secure_random
            .fill(&mut bytes)
            .map_err(|err| ClusterError::Pem {
                what: "the TLS provider's random generator",
                reason: format!("{err:?}"),
            })?;
        Ok(u64::from_le_bytes(bytes))
    }
}

/// Parses every certificate in a PEM text, refusing a text with none.
fn certificates(
    pem: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ClusterError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ClusterError::Pem {
            what,
            reason: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ClusterError::Pem {
            what,
            reason: "no certificate found".to_owned(),
        });
    }
    Ok(certs)
}

/// Checks that the peer's certificate (already verified against the CA by TLS) was issued for `name`.
pub(crate) fn check_peer_name(conn: &Connection, name: &str) -> Result<(), RejectReason> {
    let refuse = || RejectReason::CertificateName {
        name: name.to_owned(),
    };
    let certs = conn
        .peer_identity()
        .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or_else(refuse)?;
    let first = certs.first().ok_or_else(refuse)?;
    let parsed = ParsedCertificate::try_from(first).map_err(|_| refuse())?;
    let server_name = ServerName::try_from(name).map_err(|_| refuse())?;
    verify_server_name(&parsed, &server_name).map_err(|_| refuse())
}

/// The proof of the secret that the side in `role` sends on this connection.
pub(crate) fn proof(
    conn: &Connection,
    secret: &str,
    role: Role,
) -> Result<[u8; PROOF_BYTES], RejectReason> {
    let mut context = Vec::with_capacity(secret.len() + 1);
    context.push(match role {
        Role::Dialer => b'd',
        Role::Acceptor => b'a',
    });
    context.extend_from_slice(secret.as_bytes());
    let mut out = [0u8; PROOF_BYTES];
    conn.export_keying_material(&mut out, PROOF_LABEL, &context)
        .map_err(|_| RejectReason::BadHello("cannot derive the secret proof".to_owned()))?;
    Ok(out)
}

/// Compares two proofs in time independent of where they differ.
pub(crate) fn proofs_match(a: &[u8; PROOF_BYTES], b: &[u8; PROOF_BYTES]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Server verification for `--join`: the chain must lead to the cluster CA, any name is accepted
/// (the Hello's name is checked against the certificate afterwards).
#[derive(Debug)]
struct CaSignedAnyName {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for CaSignedAnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki;

    #[test]
    fn proofs_compare_by_value() {
        let a = [1u8; PROOF_BYTES];
        let mut b = a;
        assert!(proofs_match(&a, &b));
        b[PROOF_BYTES - 1] = 0;
        assert!(!proofs_match(&a, &b));
    }

    #[test]
    fn a_node_certificate_must_match_its_ca_and_name() {
        let ca = pki::generate_ca("test").expect("ca");
        let other_ca = pki::generate_ca("other").expect("ca");
        let node = pki::issue_node_cert(&ca.cert, &ca.key, "irc1.example.net").expect("cert");
        assert!(Tls::new(&ca.cert, &node.cert, &node.key, "irc1.example.net").is_ok());
        let wrong_name = Tls::new(&ca.cert, &node.cert, &node.key, "irc2.example.net")
            .err()
            .expect("wrong name refused");
        assert!(
            wrong_name
                .to_string()
                .contains("not issued for this node's name"),
            "{wrong_name}"
        );
        let wrong_ca = Tls::new(&other_ca.cert, &node.cert, &node.key, "irc1.example.net")
            .err()
            .expect("wrong CA refused");
        assert!(
            wrong_ca
                .to_string()
                .contains("not signed by the cluster CA"),
            "{wrong_ca}"
        );
        let no_cert = Tls::new(&ca.cert, "", &node.key, "irc1.example.net")
            .err()
            .expect("empty PEM refused");
        assert!(
            no_cert.to_string().contains("no certificate found"),
            "{no_cert}"
        );
    }
}
