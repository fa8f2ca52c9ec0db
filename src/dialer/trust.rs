//! TLS for `tls` trunks: the certificate authorities a proxy is verified against (the
//! system's trust store, plus the operator's own, `--sip-tls-ca-file`, for a carrier or a PBX
//! with a private CA), taken by the SIP stack as one PEM bundle; and this server's own
//! certificate and key (`--sip-tls-certificate`, `--sip-tls-key`), for taking SIP over TLS.

use std::path::Path;

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// Why the operator's CA file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM file of certificates: {reason}")]
    NotPem { path: String, reason: String },
}

/// This server's certificate chain and private key, read from PEM files and checked.
pub fn identity(certificate: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TrustError> {
    let chain = read(certificate)?;
    certificates(certificate, &chain)?;
    let secret = read(key)?;
    PrivateKeyDer::from_pem_slice(&secret).map_err(|e| TrustError::NotPem {
        path: key.display().to_string(),
        reason: format!("no private key in it ({e})"),
    })?;
    Ok((chain, secret))
}

fn read(path: &Path) -> Result<Vec<u8>, TrustError> {
    std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The certificates of the PEM file `path` holds (`bytes`): at least one.
fn certificates(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let shown = || path.display().to_string();
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrustError::NotPem {
            path: shown(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TrustError::NotPem {
            path: shown(),
            reason: "it holds no CERTIFICATE block".to_owned(),
        });
    }
    Ok(certs)
}

/// The PEM bundle of the system's CAs and those of `extra`. A system certificate that cannot
/// be read is logged and left out; an `extra` file that cannot be read, or holds no
/// certificate, is an error (the operator named it).
pub fn trust_anchors(extra: Option<&Path>) -> Result<Vec<u8>, TrustError> {
    let system = rustls_native_certs::load_native_certs();
    for error in &system.errors {
        tracing::warn!(%error, "a certificate of the system's trust store could not be read");
    }
    let mut bundle = Vec::new();
    for cert in &system.certs {
        bundle.extend(pem_block(cert));
    }
    let system_count = system.certs.len();
    let mut extra_count = 0;
    if let Some(path) = extra {
        let certs = certificates(path, &read(path)?)?;
        extra_count = certs.len();
        for cert in &certs {
            bundle.extend(pem_block(cert));
        }
    }
    tracing::debug!(system_count, extra_count, "CAs trusted for tls trunks");
    if system_count + extra_count == 0 {
        tracing::warn!(
            "no certificate authority is trusted: calls on tls trunks will fail until the \
             system's CA bundle is installed or --sip-tls-ca-file is given"
        );
    }
    Ok(bundle)
}

/// One certificate as a PEM block.
fn pem_block(cert: &CertificateDer<'_>) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let mut block = String::with_capacity(encoded.len() + encoded.len() / 64 + 64);
    block.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        // Base64 is ASCII.
        block.push_str(std::str::from_utf8(line).unwrap_or_default());
        block.push('\n');
    }
    block.push_str("-----END CERTIFICATE-----\n");
    block.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_block_reads_back_as_the_same_certificate() {
        let der = CertificateDer::from((0u8..=255).cycle().take(1000).collect::<Vec<_>>());
        let block = pem_block(&der);
        let back: Vec<_> = CertificateDer::pem_slice_iter(&block)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![der]);
        assert!(
            block
                .split(|b| *b == b'\n')
                .all(|line| line.len() <= 64 || line.starts_with(b"-----"))
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = trust_anchors(Some(&path)).unwrap_err().to_string();
        assert!(
            error.contains("ca.pem") && error.contains("no CERTIFICATE"),
            "{error}"
        );
        let missing = trust_anchors(Some(&dir.path().join("absent.pem")))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("absent.pem"), "{missing}");
    }
}
