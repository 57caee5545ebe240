//! TLS below `verify-ca`, as libpq does it: the connection is encrypted and
//! the certificate is not checked against any authority — any certificate
//! is taken, self-signed or X.509 v1 (Citus makes v1 ones) — but the
//! handshake is: the server must prove, by signing the handshake, that it
//! holds the private key of the certificate it sent. That signature check
//! needs only the certificate's public key, which is read here with a small
//! DER walk, so it works for v1 certificates that webpki refuses to parse.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// `sslmode` disable/allow/prefer/require: any certificate, signatures checked.
#[derive(Debug)]
pub(crate) struct AnyCertificate(pub(crate) Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // Nobody vouches for the certificate below verify-ca (libpq's rule);
        // what it proves is checked with the handshake signature below.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_signed(
            message,
            cert.as_ref(),
            dss.scheme,
            dss.signature(),
            &self.0.signature_verification_algorithms,
            false,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_signed(
            message,
            cert.as_ref(),
            dss.scheme,
            dss.signature(),
            &self.0.signature_verification_algorithms,
            true,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Check `signature` over `message` with the public key of the DER
/// certificate `cert` (any X.509 version). TLS 1.3 allows only its own
/// schemes and the first algorithm of a scheme; TLS 1.2 tries each
/// algorithm of the scheme whose key type matches the certificate's.
pub(crate) fn verify_signed(
    message: &[u8],
    cert: &[u8],
    scheme: SignatureScheme,
    signature: &[u8],
    algs: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    use rustls::{CertificateError, Error as E, PeerMisbehaved};
    if tls13 && !allowed_in_tls13(scheme) {
        return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    }
    let key = public_key(cert).ok_or(E::InvalidCertificate(CertificateError::BadEncoding))?;
    let candidates = algs
        .mapping
        .iter()
        .find(|(s, _)| *s == scheme)
        .map(|(_, a)| *a)
        .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
    let candidates = if tls13 {
        &candidates[..candidates.len().min(1)]
    } else {
        candidates
    };
    let mut matched = false;
    for alg in candidates {
        if alg.public_key_alg_id().as_ref() != key.algorithm {
            continue;
        }
        matched = true;
        if alg.verify_signature(key.bits, message, signature).is_ok() {
            return Ok(HandshakeSignatureValid::assertion());
        }
    }
    Err(E::InvalidCertificate(if matched {
        CertificateError::BadSignature
    } else {
        CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id: Vec::new(),
            public_key_algorithm_id: key.algorithm.to_vec(),
        }
    }))
}

/// The signature schemes TLS 1.3 allows in a CertificateVerify (RFC 8446 4.2.3).
fn allowed_in_tls13(scheme: SignatureScheme) -> bool {
    use SignatureScheme as S;
    matches!(
        scheme,
        S::ECDSA_NISTP256_SHA256
            | S::ECDSA_NISTP384_SHA384
            | S::ECDSA_NISTP521_SHA512
            | S::RSA_PSS_SHA256
            | S::RSA_PSS_SHA384
            | S::RSA_PSS_SHA512
            | S::ED25519
            | S::ED448
    )
}

/// The subject public key of a certificate: the contents of its
/// AlgorithmIdentifier (as webpki compares them) and the key bits.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PublicKey<'a> {
    pub algorithm: &'a [u8],
    pub bits: &'a [u8],
}

/// One DER element: (tag, contents, rest). Definite lengths only (DER).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Walk `Certificate -> TBSCertificate -> subjectPublicKeyInfo`. The
/// version field (`[0]`) is optional: v1 certificates leave it out.
pub(crate) fn public_key(cert: &[u8]) -> Option<PublicKey<'_>> {
    const SEQUENCE: u8 = 0x30;
    let (tag, cert, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity, subject.
    for want in [0x02, SEQUENCE, SEQUENCE, SEQUENCE, SEQUENCE] {
        let (tag, _, rest) = tlv(tbs)?;
        if tag != want {
            return None;
        }
        tbs = rest;
    }
    let (tag, spki, _) = tlv(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, algorithm, rest) = tlv(spki)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, bits, _) = tlv(rest)?;
    // A BIT STRING whose first byte counts unused bits, zero for keys.
    if tag != 0x03 || bits.first() != Some(&0) {
        return None;
    }
    Some(PublicKey {
        algorithm,
        bits: &bits[1..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;

    /// A key and a self-signed X.509 v1 certificate from openssl, or None
    /// when openssl is not installed.
    fn v1_pair(dir: &std::path::Path, key_spec: &[&str]) -> Option<(Vec<u8>, Vec<u8>)> {
        let run = |args: &[&str]| {
            std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .ok()
                .filter(|o| o.status.success())
        };
        let mut req = vec![
            "req", "-new", "-nodes", "-keyout", "k.pem", "-subj", "/CN=x",
        ];
        req.extend_from_slice(key_spec);
        req.extend_from_slice(&["-out", "r.csr"]);
        run(&req)?;
        run(&[
            "x509", "-req", "-in", "r.csr", "-signkey", "k.pem", "-days", "2", "-out", "c.pem",
        ])?;
        let key = std::fs::read(dir.join("k.pem")).ok()?;
        let cert = std::fs::read(dir.join("c.pem")).ok()?;
        Some((key, cert))
    }

    #[test]
    fn signatures_are_checked_with_the_key_of_a_v1_certificate() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algs = provider.signature_verification_algorithms;
        for (spec, scheme) in [
            (
                &["-newkey", "rsa:2048"][..],
                SignatureScheme::RSA_PSS_SHA256,
            ),
            (
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
                SignatureScheme::ECDSA_NISTP256_SHA256,
            ),
        ] {
            let dir = tempfile::tempdir().expect("tmp");
            let Some((key_pem, cert_pem)) = v1_pair(dir.path(), spec) else {
                eprintln!("skipped: openssl is not installed");
                return;
            };
            let cert = CertificateDer::from_pem_slice(&cert_pem).expect("cert");
            assert!(
                webpki_refuses(&cert),
                "webpki refuses v1 end-entity certificates (what this module is for)"
            );
            assert!(public_key(cert.as_ref()).is_some(), "the v1 key is found");
            let key = PrivateKeyDer::from_pem_slice(&key_pem).expect("key");
            let signer = provider
                .key_provider
                .load_private_key(key)
                .expect("load")
                .choose_scheme(&[scheme])
                .expect("scheme");
            let msg = b"the handshake transcript";
            let sig = signer.sign(msg).expect("sign");
            for tls13 in [true, false] {
                assert!(
                    verify_signed(msg, cert.as_ref(), scheme, &sig, &algs, tls13).is_ok(),
                    "{scheme:?} tls13={tls13}"
                );
                // A forged or replayed signature fails: a certificate whose
                // key the server does not hold is refused.
                assert!(
                    verify_signed(
                        b"another transcript",
                        cert.as_ref(),
                        scheme,
                        &sig,
                        &algs,
                        tls13
                    )
                    .is_err()
                );
                let mut bad = sig.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                assert!(verify_signed(msg, cert.as_ref(), scheme, &bad, &algs, tls13).is_err());
            }
            // TLS 1.3 refuses schemes it does not allow.
            assert!(
                verify_signed(
                    msg,
                    cert.as_ref(),
                    SignatureScheme::RSA_PKCS1_SHA1,
                    &sig,
                    &algs,
                    true
                )
                .is_err()
            );
        }
    }

    fn webpki_refuses(cert: &CertificateDer<'_>) -> bool {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let _ = roots.add(cert.clone());
        let Ok(v) =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
        else {
            return true;
        };
        let name = ServerName::try_from("x").expect("name");
        v.verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .is_err_and(|e| format!("{e:?}").contains("UnsupportedCertVersion"))
    }

    #[test]
    fn garbage_has_no_key() {
        assert_eq!(public_key(&[]), None);
        assert_eq!(public_key(&[0x30, 0x82, 0xff]), None);
        assert_eq!(public_key(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
    }
}
