//! `wss://` with a self-signed certificate generated here (rcgen), reached by a rustls client
//! that trusts exactly that certificate; and startup failures that name the parameter and file.

mod common;

use std::sync::Arc;

use common::*;
use foxglove_gateway::config::Config;
use foxglove_gateway::gateway::{Gateway, StartError};
use foxglove_gateway::ros::sim::SimGraph;
use foxglove_gateway::schema::SchemaStore;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

struct Pki {
    dir: tempfile::TempDir,
    cert_der: rustls::pki_types::CertificateDer<'static>,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// A self-signed certificate for `localhost` in `cert.pem` + `key.pem`, and a second, unrelated
/// key in `other_key.pem`.
fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("other_key.pem"), other.serialize_pem()).unwrap();
    Pki {
        cert_der: ck.cert.der().clone(),
        dir,
    }
}

async fn start_tls(certfile: String, keyfile: String) -> Result<(Gateway, SimGraph), StartError> {
    let config = Config {
        port: 0,
        address: "127.0.0.1".into(),
        tls: true,
        certfile,
        keyfile,
        ..Config::default()
    };
    let sim = SimGraph::new();
    let schemas = Arc::new(SchemaStore::new(vec![interfaces()]));
    let sim2 = sim.clone();
    Gateway::start(config, schemas, move |io| {
        sim2.start(io);
    })
    .await
    .map(|g| (g, sim))
}

fn client_config(trusted: &rustls::pki_types::CertificateDer<'static>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn wss_works_with_a_self_signed_certificate() {
    let pki = pki();
    let (gw, sim) = start_tls(pki.path("cert.pem"), pki.path("key.pem"))
        .await
        .expect("gateway starts with TLS");
    let port = gw.local_addr().port();

    let tcp = tokio::net::TcpStream::connect(gw.local_addr())
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&pki.cert_der)));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("TLS in time")
        .expect("TLS handshake with the trusted certificate");

    let mut req = format!("wss://localhost:{port}/")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("foxglove.websocket.v1"),
    );
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tls)
        .await
        .expect("WebSocket over TLS");
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "foxglove.websocket.v1"
    );

    // The protocol runs as over ws://: serverInfo, advertise, subscribe, data.
    let _p = sim.add_publisher(
        "/chatter",
        "std_msgs/msg/String",
        "/talker",
        Default::default(),
    );
    let info = next_json(&mut ws).await;
    assert_eq!(info["op"], "serverInfo");
    let adv = next_json(&mut ws).await;
    assert_eq!(adv["op"], "advertise");
    assert_eq!(adv["channels"][0]["topic"], "/chatter");
    let channel = adv["channels"][0]["id"].as_u64().unwrap();
    ws.send(Message::text(
        json!({"op":"subscribe","subscriptions":[{"id":3,"channelId":channel}]}).to_string(),
    ))
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let payload = vec![0, 1, 0, 0, 3, 0, 0, 0, b'h', b'i', 0, 0];
    _p.publish(payload.clone().into());
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => {
                let d = parse_data(&b).expect("MessageData");
                assert_eq!((d.subscription, d.payload), (3, payload));
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    gw.shutdown(std::time::Duration::from_secs(2)).await;
}

#[tokio::test]
async fn plain_ws_to_a_tls_server_does_not_connect_and_the_server_keeps_serving() {
    let pki = pki();
    let (gw, _sim) = start_tls(pki.path("cert.pem"), pki.path("key.pem"))
        .await
        .unwrap();
    let mut req = format!("ws://{}/", gw.local_addr())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("foxglove.sdk.v1"),
    );
    let r = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(req))
        .await
        .expect("refused in time");
    assert!(r.is_err());

    // A client that does not trust the certificate fails the handshake...
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(other.cert.der())));
    let tcp = tokio::net::TcpStream::connect(gw.local_addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    assert!(connector.connect(name.clone(), tcp).await.is_err());
    // ...and one that does still gets through afterwards.
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&pki.cert_der)));
    let tcp = tokio::net::TcpStream::connect(gw.local_addr())
        .await
        .unwrap();
    assert!(connector.connect(name, tcp).await.is_ok());
}

async fn next_json<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn start_error(certfile: String, keyfile: String) -> String {
    match start_tls(certfile, keyfile).await {
        Ok(_) => panic!("gateway started with a bad TLS setup"),
        Err(e) => {
            eprintln!("start error: {e}");
            e.to_string()
        }
    }
}

#[tokio::test]
async fn missing_key_fails_startup_naming_keyfile() {
    let pki = pki();
    let e = start_error(pki.path("cert.pem"), pki.path("missing_key.pem")).await;
    assert!(e.contains("keyfile"), "{e}");
    assert!(e.contains("missing_key.pem"), "{e}");
}

#[tokio::test]
async fn missing_cert_fails_startup_naming_certfile() {
    let pki = pki();
    let e = start_error(pki.path("missing_cert.pem"), pki.path("key.pem")).await;
    assert!(
        e.contains("certfile") && e.contains("missing_cert.pem"),
        "{e}"
    );
}

#[tokio::test]
async fn bad_cert_fails_startup_naming_certfile() {
    let pki = pki();
    // A key where the certificate should be: no certificate in it.
    let e = start_error(pki.path("key.pem"), pki.path("key.pem")).await;
    assert!(e.contains("certfile") && e.contains("key.pem"), "{e}");
    // A corrupted certificate.
    let bad = pki.path("bad_cert.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let e = start_error(bad.clone(), pki.path("key.pem")).await;
    assert!(e.contains("certfile") && e.contains("bad_cert.pem"), "{e}");
}

#[tokio::test]
async fn key_not_matching_the_certificate_fails_startup() {
    let pki = pki();
    let e = start_error(pki.path("cert.pem"), pki.path("other_key.pem")).await;
    assert!(e.contains("certfile/keyfile"), "{e}");
    assert!(e.contains("does not belong"), "{e}");
    assert!(e.contains("other_key.pem") && e.contains("cert.pem"), "{e}");
}

#[tokio::test]
async fn a_certificate_as_the_key_fails_startup_naming_keyfile() {
    let pki = pki();
    let e = start_error(pki.path("cert.pem"), pki.path("cert.pem")).await;
    assert!(
        e.contains("keyfile") && e.contains("no PEM private key"),
        "{e}"
    );
}
