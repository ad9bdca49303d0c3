//! The joining node's side: connect to the member named in the token, make sure it presents
//! the cluster CA the token pins, and only then ask who it is ([`hello`]) or send the join
//! request ([`join`]).
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
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use openssl::ssl::{Ssl, SslConnector, SslMethod, SslVerifyMode};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509StoreContext};
use pigeonair_join::{Fingerprint, Hello, JoinRequest, JoinResponse, Refusal, Token};
use tokio::net::TcpStream;

/// How long connecting and the whole exchange may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long a refused or unreachable member is tried again.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);
/// How long [`hello`] may take in all, and tries a member that refuses connections.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
const HELLO_PATIENCE: Duration = Duration::from_secs(5);

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
    let exchange = async {
        let (mut sender, _) = pinned(token, CONNECT_PATIENCE).await?;
        let body = serde_json::to_vec(request).expect("serialises");
        let (status, bytes) = call(&mut sender, token, "POST", "/v1/join", body).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| protocol(token, e.to_string()));
        }
        match serde_json::from_slice::<Refusal>(&bytes) {
            Ok(r) => Err(JoinError::Refused(r)),
            Err(_) => Err(protocol(
                token,
                format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
            )),
        }
    };
    within(token, TIMEOUT, exchange).await
}

/// A member as a joining node met it, before it sent anything secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Met {
    /// What the member said of itself.
    pub hello: Hello,
    /// The fingerprint of the CA certificate in the member's chain that its own certificate
    /// verified against: the token's (anything else fails before this is made).
    pub ca: Fingerprint,
}

/// Asks the member in `token` who it is (`GET /v1/hello`), on a connection checked like the
/// join's: the chain must hold the token's CA and the member's certificate verify against it.
/// Nothing of the token is sent. A member that refuses connections is tried for a few
/// seconds only: an operator is waiting.
pub async fn hello(token: &Token) -> Result<Met, JoinError> {
    let exchange = async {
        let (mut sender, ca) = pinned(token, HELLO_PATIENCE).await?;
        let (status, bytes) = call(&mut sender, token, "GET", "/v1/hello", Vec::new()).await?;
        if !status.is_success() {
            return Err(protocol(
                token,
                format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
            ));
        }
        let hello: Hello = serde_json::from_slice(&bytes)
            .map_err(|e| protocol(token, format!("not a hello: {e}")))?;
        let der = ca.to_der().map_err(|e| protocol(token, e.to_string()))?;
        Ok(Met {
            hello,
            ca: Fingerprint::of_der(&der),
        })
    };
    within(token, HELLO_TIMEOUT, exchange).await
}

fn protocol(token: &Token, reason: String) -> JoinError {
    JoinError::Protocol {
        addr: token.via.to_string(),
        reason,
    }
}

/// `exchange`, or a connect error once `limit` has passed.
async fn within<T>(
    token: &Token,
    limit: Duration,
    exchange: impl Future<Output = Result<T, JoinError>>,
) -> Result<T, JoinError> {
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(JoinError::Connect {
                addr: token.via.to_string(),
                reason: format!("no answer within {} s", limit.as_secs()),
            })
        })
}

/// An HTTP connection to the member in `token`, once its chain was checked against the
/// token's CA (nothing is sent before); also the CA certificate found there. Connecting is
/// retried for `patience`.
async fn pinned(
    token: &Token,
    patience: Duration,
) -> Result<(SendRequest<Full<Bytes>>, X509), JoinError> {
    let addr = token.via.to_string();
    // A member that is starting (or restarting) refuses for a moment: the join waits for it
    // rather than failing, up to `patience`.
    let started = std::time::Instant::now();
    let tcp = loop {
        match TcpStream::connect(token.via).await {
            Ok(tcp) => break tcp,
            Err(e) if started.elapsed() < patience => {
                log::debug!("join: {addr}: {e}; trying again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                return Err(JoinError::Connect {
                    addr: addr.clone(),
                    reason: format!("{e}, for {} s", patience.as_secs()),
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
    let ca = check_chain(&chain, &leaf, token.ca, token.via.ip()).map_err(|reason| {
        JoinError::Untrusted {
            addr: addr.clone(),
            reason,
        }
    })?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| protocol(token, e.to_string()))?;
    tokio::spawn(conn);
    Ok((sender, ca))
}

/// One request on a [`pinned`] connection: the answer's status and body.
async fn call(
    sender: &mut SendRequest<Full<Bytes>>,
    token: &Token,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(hyper::StatusCode, Bytes), JoinError> {
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", token.via.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request");
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| protocol(token, e.to_string()))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| protocol(token, e.to_string()))?
        .to_bytes();
    Ok((status, bytes))
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

/// Asks the node a mailbox is being copied to to delete its partial copy (`POST
/// /v1/discard`); returns what it did.
pub async fn discard(
    addr: std::net::SocketAddr,
    request: &pigeonair_join::DiscardCopy,
) -> Result<String, String> {
    let body = serde_json::to_vec(request).expect("serialises");
    let said = peer_call(
        addr,
        "POST",
        "/v1/discard",
        Some(body),
        Duration::from_secs(60),
    )
    .await?;
    Ok(serde_json::from_slice::<serde_json::Value>(&said)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_default())
}

/// Asks a node holding the role `ca` for the cluster CA's key (`POST /v1/ca-key`), for this
/// node, which its directory shows becoming a provider (`crate::promotion`). The key travels
/// only on this mutual TLS connection.
pub async fn ca_key(addr: std::net::SocketAddr) -> Result<pigeonair_join::ProviderGrant, String> {
    let bytes = peer_call(addr, "POST", "/v1/ca-key", None, Duration::from_secs(10)).await?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a grant: {e}"))
}

/// A new certificate for this node from a holder of the CA's key (`POST /v1/renew`, with
/// this node's current certificate).
pub async fn renew(
    addr: std::net::SocketAddr,
    req: &pigeonair_join::RenewRequest,
) -> Result<pigeonair_join::RenewResponse, String> {
    let body = serde_json::to_vec(req).map_err(|e| e.to_string())?;
    let bytes = peer_call(
        addr,
        "POST",
        "/v1/renew",
        Some(body),
        Duration::from_secs(10),
    )
    .await?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a certificate: {e}"))
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

    /// A member on 127.0.0.1 that presents `leaf` and `ca` and answers every request with a
    /// hello; also the number of requests it got.
    async fn member(
        leaf: X509,
        key: openssl::pkey::PKey<openssl::pkey::Private>,
        ca: X509,
    ) -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut b = openssl::ssl::SslAcceptor::mozilla_intermediate_v5(
            openssl::ssl::SslMethod::tls_server(),
        )
        .unwrap();
        b.set_private_key(&key).unwrap();
        b.set_certificate(&leaf).unwrap();
        b.add_extra_chain_cert(ca).unwrap();
        let acceptor = b.build();
        let asked = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let ssl = Ssl::new(acceptor.context()).unwrap();
                let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
                if Pin::new(&mut tls).accept().await.is_err() {
                    continue;
                }
                let counter = counter.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = if req.uri().path() == "/v1/hello" {
                        r#"{"cluster":"pigeon","hostname":"mx1.example.com"}"#
                    } else {
                        "{}"
                    };
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service),
                );
            }
        });
        (addr, asked)
    }

    fn token(via: std::net::SocketAddr, ca: Fingerprint) -> Token {
        Token::generate(via, ca)
    }

    #[tokio::test]
    async fn hello_names_the_cluster_only_behind_the_pinned_ca() {
        use std::sync::atomic::Ordering;
        let (ca, ca_key) = csr::make_ca("example.com").unwrap();
        let key = csr::new_key().unwrap();
        let req = csr::request(&key, "mx1.example.com").unwrap();
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let leaf = csr::sign(&ca, &ca_key, &req, "mx1.example.com", ip).unwrap();
        let pinned = Fingerprint::of_der(&ca.to_der().unwrap());
        let (addr, asked) = member(leaf, key, ca).await;

        let met = hello(&token(addr, pinned)).await.unwrap();
        assert_eq!(met.hello.cluster, "pigeon");
        assert_eq!(met.hello.hostname, "mx1.example.com");
        assert_eq!(met.ca, pinned);
        assert_eq!(asked.load(Ordering::SeqCst), 1);

        // A token for another cluster: refused before a byte of a request is sent.
        let other = Fingerprint([0x42; 32]);
        let e = hello(&token(addr, other)).await.unwrap_err();
        assert!(matches!(e, JoinError::Untrusted { .. }), "{e}");
        let shown = e.to_string();
        assert!(shown.contains(&other.to_hex()), "{shown}");
        assert!(shown.contains(&pinned.to_hex()), "{shown}");
        assert_eq!(asked.load(Ordering::SeqCst), 1, "a request was sent");
    }

    #[tokio::test]
    async fn hello_says_when_nothing_listens() {
        // A port just freed: nothing listens there.
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = hello(&token(free, Fingerprint([1; 32]))).await.unwrap_err();
        assert!(matches!(e, JoinError::Connect { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("cannot reach the member at {free}"))
        );
    }
}
