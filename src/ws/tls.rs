//! `wss://`: the rustls server configuration built from `certfile` and `keyfile`.
//!
//! Everything is checked at startup so a wrong path, an empty or garbled PEM file, or a key that
//! does not belong to the certificate stops the gateway with a message naming the parameter and
//! the file, instead of failing every viewer's handshake later. The handshake itself is bounded
//! by `handshake_timeout_ms`, together with the HTTP upgrade after it (see [`super`]).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up. Each variant names the parameter and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read (missing, unreadable).
    #[error("parameter {param}: cannot read {path}: {source}")]
    Read {
        /// `certfile` or `keyfile`.
        param: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file was read but its PEM content is unusable.
    #[error("parameter {param}: {path}: {reason}")]
    Pem {
        /// `certfile` or `keyfile`.
        param: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error(
        "parameters certfile/keyfile: the private key in {keyfile} does not belong to the \
         certificate in {certfile}"
    )]
    KeyMismatch {
        /// The certificate file.
        certfile: String,
        /// The key file.
        keyfile: String,
    },
    /// rustls refused the pair for another reason (e.g. an unsupported key type).
    #[error(
        "parameters certfile/keyfile: {certfile} and {keyfile} cannot be used together: {source}"
    )]
    Rejected {
        /// The certificate file.
        certfile: String,
        /// The key file.
        keyfile: String,
        /// Why.
        source: rustls::Error,
    },
}

/// Build the TLS acceptor from PEM files: `certfile` holds the certificate chain (leaf first),
/// `keyfile` a PKCS#8, PKCS#1 or SEC1 private key.
pub fn acceptor(certfile: &str, keyfile: &str) -> Result<TlsAcceptor, TlsError> {
    let certs = read_certs(certfile)?;
    let key = read_key(keyfile)?;
    // An explicit provider instead of the process default: if another dependency ever enables a
    // second rustls backend, the default would be ambiguous and `builder()` would panic.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rejected = |source| match source {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch {
                certfile: certfile.to_string(),
                keyfile: keyfile.to_string(),
            }
        }
        source => TlsError::Rejected {
            certfile: certfile.to_string(),
            keyfile: keyfile.to_string(),
            source,
        },
    };
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(rejected)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn pem_error(param: &'static str, path: &str, e: pem::Error) -> TlsError {
    match e {
        pem::Error::Io(source) => TlsError::Read {
            param,
            path: path.to_string(),
            source,
        },
        other => TlsError::Pem {
            param,
            path: path.to_string(),
            reason: other.to_string(),
        },
    }
}

fn read_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    const PARAM: &str = "certfile";
    let certs = CertificateDer::pem_file_iter(Path::new(path))
        .map_err(|e| pem_error(PARAM, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(PARAM, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            param: PARAM,
            path: path.to_string(),
            reason: "no PEM certificate (-----BEGIN CERTIFICATE-----) found".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(Path::new(path)).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::Pem {
            param: "keyfile",
            path: path.to_string(),
            reason: "no PEM private key (-----BEGIN PRIVATE KEY-----) found".into(),
        },
        other => pem_error("keyfile", path, other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    #[test]
    fn errors_name_the_parameter_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem").display().to_string();
        let empty = write(&dir, "empty.pem", "");
        let garbage = write(&dir, "garbage.pem", "-----BEGIN CERTIFICATE-----\n!!!\n");

        let e = acceptor(&missing, &missing)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("certfile") && e.contains("nope.pem"), "{e}");

        let e = acceptor(&empty, &missing)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("certfile") && e.contains("empty.pem"), "{e}");
        assert!(e.contains("no PEM certificate"), "{e}");

        let e = acceptor(&garbage, &missing)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("certfile") && e.contains("garbage.pem"), "{e}");
    }
}
