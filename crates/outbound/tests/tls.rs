//! The outbound client against a real TLS server on a socket: a certificate from a private CA
//! is accepted when that CA is trusted and refused when it is not; a bad CA file is named.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;

use haechi_outbound::{Error, Trust};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A private CA (its PEM) and a `localhost` certificate it signed, with the key.
fn private_ca() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    (
        ca_cert.pem(),
        leaf.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
}

/// An HTTPS server answering every request `200 ok`; its port.
async fn serve(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> u16 {
    #[allow(deprecated, reason = "the same provider the client uses")]
    let provider = tokio_rustls::rustls::crypto::ring::default_provider();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(socket).await else {
                    return;
                };
                let mut request = vec![0_u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_named() {
    let (ca_pem, cert, key) = private_ca();
    let port = serve(cert, key).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let url = format!("https://localhost:{port}/hook");

    let trusting = haechi_outbound::builder(&Trust {
        ca_file: Some(ca_file.clone()),
        ca_file_only: true,
    })
    .unwrap()
    .build()
    .unwrap();
    let response = trusting.post(&url).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");

    // The system's roots do not know the private CA: the handshake fails, nothing is sent.
    let system = haechi_outbound::plain_builder().unwrap().build().unwrap();
    let error = system.post(&url).body("{}").send().await.unwrap_err();
    let chain = format!("{:?}", anyhow_chain(&error));
    assert!(
        chain.contains("certificate") || chain.contains("UnknownIssuer"),
        "{chain}"
    );
}

#[test]
fn a_ca_file_without_certificates_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for path in [empty.clone(), dir.path().join("missing.pem")] {
        let error = haechi_outbound::builder(&Trust {
            ca_file: Some(path.clone()),
            ca_file_only: false,
        })
        .unwrap_err();
        assert!(matches!(error, Error::CaFile { .. }), "{error}");
        assert!(error.to_string().contains(&path.display().to_string()));
    }
    let error = haechi_outbound::builder(&Trust {
        ca_file: None,
        ca_file_only: true,
    })
    .unwrap_err();
    assert!(matches!(error, Error::NoRoots), "{error}");
}

fn anyhow_chain(error: &dyn std::error::Error) -> Vec<String> {
    let mut chain = vec![error.to_string()];
    let mut source = error.source();
    while let Some(next) = source {
        chain.push(format!("{next:?}"));
        source = next.source();
    }
    chain
}
