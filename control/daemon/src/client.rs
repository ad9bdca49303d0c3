//! The joining node's side: connect to the member named in the token, make sure it presents
//! the cluster CA the token pins, and only then send the join request.
//!
//! The check is done on the connection that carries the request: the handshake accepts any
//! chain, then, before a byte of the request is written, the chain must hold a certificate
//! whose SHA-256 is the token's fingerprint, and the member's own certificate must verify
//! against that CA and name the address connected to. A man in the middle with another CA fails
//! here, with nothing sent.

use std::pin::Pin;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use openssl::ssl::{Ssl, SslConnector, SslMethod, SslVerifyMode};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509StoreContext};
use pigeonair_join::{Fingerprint, JoinRequest, JoinResponse, Refusal, Token};
use tokio::net::TcpStream;

/// How long connecting and the whole exchange may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long a refused or unreachable member is tried again.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// Why a join did not complete. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The member could not be reached.
    #[error(
        "cannot reach the member at {addr} ({reason}): check the private network and that pigeonaird runs there"
    )]
    Connect {
        /// The token's address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// TLS failed before any check could be made.
    #[error("TLS with the member at {addr} failed: {reason}")]
    Tls {
        /// The token's address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The member's chain does not hold the pinned CA, or its certificate does not verify.
    #[error(
        "the member at {addr} does not prove it belongs to the token's cluster ({reason}); nothing was sent: the token is for another cluster, or something between the nodes is impersonating the member"
    )]
    Untrusted {
        /// The token's address.
        addr: String,
        /// What did not match.
        reason: String,
    },
    /// The member refused the join.
    #[error("the member refused the join: {0}")]
    Refused(Refusal),
    /// The member answered something that is not a join answer.
    #[error("the member at {addr} answered unexpectedly: {reason}")]
    Protocol {
        /// The token's address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
}

/// Checks the member's chain against the pinned CA; returns the CA certificate.
pub fn check_chain(
    chain: &[X509],
    leaf: &X509,
    pinned: Fingerprint,
    ip: std::net::IpAddr,
) -> Result<X509, String> {
    let ca = chain
        .iter()
        .find(|c| c.to_der().is_ok_and(|d| Fingerprint::of_der(&d) == pinned))
        .cloned()
        .ok_or_else(|| {
            let found: Vec<String> = chain
                .iter()
                .filter_map(|c| c.to_der().ok())
                .map(|d| Fingerprint::of_der(&d).to_hex())
                .collect();
            format!(
                "no certificate in its chain has the token's CA fingerprint {}; it presented {}",
                pinned.to_hex(),
                found.join(", ")
            )
        })?;
    let mut store = X509StoreBuilder::new().map_err(|e| e.to_string())?;
    store.add_cert(ca.clone()).map_err(|e| e.to_string())?;
    let mut params = openssl::x509::verify::X509VerifyParam::new().map_err(|e| e.to_string())?;
    params.set_ip(ip).map_err(|e| e.to_string())?;
    store.set_param(&params).map_err(|e| e.to_string())?;
    let store = store.build();
    let mut ctx = X509StoreContext::new().map_err(|e| e.to_string())?;
    let untrusted = Stack::new().map_err(|e| e.to_string())?;
    let verdict = ctx
        .init(&store, leaf, &untrusted, |c| {
            let ok = c.verify_cert()?;
            Ok((ok, c.error().error_string().to_string()))
        })
        .map_err(|e| e.to_string())?;
    match verdict {
        (true, _) => Ok(ca),
        (false, why) => Err(format!("its certificate does not verify for {ip}: {why}")),
    }
}

/// Sends `request` to the member in `token` and returns its answer.
pub async fn join(token: &Token, request: &JoinRequest) -> Result<JoinResponse, JoinError> {
    tokio::time::timeout(TIMEOUT, join_inner(token, request))
        .await
        .unwrap_or_else(|_| {
            Err(JoinError::Connect {
                addr: token.via.to_string(),
                reason: format!("no answer within {} s", TIMEOUT.as_secs()),
            })
        })
}

async fn join_inner(token: &Token, request: &JoinRequest) -> Result<JoinResponse, JoinError> {
    let addr = token.via.to_string();
    // A member that is starting (or restarting) refuses for a moment: the join waits for it
    // rather than failing, up to CONNECT_PATIENCE.
    let started = std::time::Instant::now();
    let tcp = loop {
        match TcpStream::connect(token.via).await {
            Ok(tcp) => break tcp,
            Err(e) if started.elapsed() < CONNECT_PATIENCE => {
                log::debug!("join: {addr}: {e}; trying again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                return Err(JoinError::Connect {
                    addr: addr.clone(),
                    reason: format!("{e}, for {} s", CONNECT_PATIENCE.as_secs()),
                });
            }
        }
    };
    let tls_err = |reason: String| JoinError::Tls {
        addr: addr.clone(),
        reason,
    };
    // Any chain is accepted by the handshake; check_chain decides before anything is sent.
    let mut b =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| tls_err(e.to_string()))?;
    b.set_verify(SslVerifyMode::NONE);
    let connector = b.build();
    let ssl: Ssl = connector
        .configure()
        .and_then(|c| {
            c.verify_hostname(false)
                .use_server_name_indication(false)
                .into_ssl("")
        })
        .map_err(|e| tls_err(e.to_string()))?;
    let mut tls = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| tls_err(e.to_string()))?;
    Pin::new(&mut tls)
        .connect()
        .await
        .map_err(|e| tls_err(e.to_string()))?;
    let chain: Vec<X509> = tls
        .ssl()
        .peer_cert_chain()
        .map(|s| s.iter().map(|c| c.to_owned()).collect())
        .unwrap_or_default();
    let leaf = tls
        .ssl()
        .peer_certificate()
        .ok_or_else(|| tls_err("the member presented no certificate".into()))?;
    check_chain(&chain, &leaf, token.ca, token.via.ip()).map_err(|reason| {
        JoinError::Untrusted {
            addr: addr.clone(),
            reason,
        }
    })?;
    let protocol = |reason: String| JoinError::Protocol {
        addr: addr.clone(),
        reason,
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| protocol(e.to_string()))?;
    tokio::spawn(conn);
    let body = serde_json::to_vec(request).expect("serialises");
    let req = hyper::Request::post("/v1/join")
        .header("host", &addr)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request");
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| protocol(e.to_string()))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| protocol(e.to_string()))?
        .to_bytes();
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| protocol(e.to_string()));
    }
    match serde_json::from_slice::<Refusal>(&bytes) {
        Ok(r) => Err(JoinError::Refused(r)),
        Err(_) => Err(protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        ))),
    }
}

/// A peer's `GET /v1/status`, asked with this node's cluster certificate (mutual TLS; the peer's
/// certificate must name `addr`'s address and verify against the cluster CA).
pub async fn status(addr: std::net::SocketAddr) -> Result<pigeonair_join::NodeStatus, String> {
    status_within(addr, Duration::from_secs(5)).await
}

/// [`status`], giving up after `limit` (the console asks every node each refresh and shows one
/// that does not answer in time as unreachable).
pub async fn status_within(
    addr: std::net::SocketAddr,
    limit: Duration,
) -> Result<pigeonair_join::NodeStatus, String> {
    let bytes = peer_call(addr, "GET", "/v1/status", None, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// A peer's `GET /v1/journal?lines=N`: the last `lines` lines of PigeonAir's units in its
/// journal, oldest first.
pub async fn journal(
    addr: std::net::SocketAddr,
    lines: usize,
    limit: Duration,
) -> Result<Vec<String>, String> {
    let path = format!("/v1/journal?lines={lines}");
    let bytes = peer_call(addr, "GET", &path, None, limit).await?;
    serde_json::from_slice::<pigeonair_join::JournalLines>(&bytes)
        .map(|j| j.lines)
        .map_err(|e| e.to_string())
}

/// Tells a peer that a mailbox moved (`POST /v1/moved`): it answers once its directory has the
/// change, its auth cache is flushed and its mail queue retried.
pub async fn moved(
    addr: std::net::SocketAddr,
    notice: &pigeonair_join::MovedNotice,
) -> Result<(), String> {
    let body = serde_json::to_vec(notice).expect("serialises");
    peer_call(
        addr,
        "POST",
        "/v1/moved",
        Some(body),
        Duration::from_secs(20),
    )
    .await
    .map(drop)
}

/// One request to a peer's control plane with this node's cluster certificate (mutual TLS;
/// the peer's certificate must name `addr`'s address and verify against the cluster CA).
/// Returns the body of a 2xx answer.
async fn peer_call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    limit: Duration,
) -> Result<Bytes, String> {
    use pigeonair_appliance::render::{CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY};
    let exchange = async {
        let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
        b.set_ca_file(CLUSTER_CA_CERT)
            .and_then(|()| b.set_certificate_file(CLUSTER_CERT, openssl::ssl::SslFiletype::PEM))
            .and_then(|()| b.set_private_key_file(CLUSTER_KEY, openssl::ssl::SslFiletype::PEM))
            .map_err(|e| format!("this node's cluster certificate: {e}"))?;
        let connector = b.build();
        let mut config = connector.configure().map_err(|e| e.to_string())?;
        config.set_use_server_name_indication(false);
        config.set_verify_hostname(false);
        config
            .param_mut()
            .set_ip(addr.ip())
            .map_err(|e| e.to_string())?;
        let ssl = config.into_ssl("").map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
        Pin::new(&mut tls)
            .connect()
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a valid request");
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        Ok(bytes)
    };
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", limit.as_secs())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonair_join::csr;

    #[test]
    fn the_pinned_ca_and_the_members_address_are_both_required() {
        let (ca, ca_key) = csr::make_ca("example.com").unwrap();
        let key = csr::new_key().unwrap();
        let req = csr::request(&key, "mx1.example.com").unwrap();
        let ip: std::net::IpAddr = "10.42.0.11".parse().unwrap();
        let leaf = csr::sign(&ca, &ca_key, &req, "mx1.example.com", ip).unwrap();
        let pinned = Fingerprint::of_der(&ca.to_der().unwrap());
        let chain = vec![leaf.clone(), ca.clone()];
        assert!(check_chain(&chain, &leaf, pinned, ip).is_ok());
        // Another address than the certificate names.
        let e = check_chain(&chain, &leaf, pinned, "10.42.0.99".parse().unwrap()).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        // A man in the middle: its own CA, its own certificate for the same names.
        let (evil, evil_key) = csr::make_ca("example.com").unwrap();
        let fake = csr::sign(&evil, &evil_key, &req, "mx1.example.com", ip).unwrap();
        let e = check_chain(&[fake.clone(), evil.clone()], &fake, pinned, ip).unwrap_err();
        assert!(e.contains("no certificate in its chain"), "{e}");
        // The real CA in the chain but a leaf it did not sign.
        let e = check_chain(&[fake.clone(), ca.clone()], &fake, pinned, ip).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
    }
}
