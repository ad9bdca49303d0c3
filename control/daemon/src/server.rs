//! The control plane's HTTPS server, on the node's private address only ([`CONTROL_PORT`]).
//!
//! TLS with the node's cluster certificate; the chain it presents includes the cluster CA, so a
//! joining node can pin the CA by the fingerprint in its token. Client certificates are asked
//! for and verified against the cluster CA: `POST /v1/join` (the token authenticates it) and
//! `GET /v1/hello` (it tells nothing secret) are open without one; every other route answers
//! only a peer's certificate.
//!
//! Routes:
//! - `GET /v1/hello` — for a joining node, before it sends its token: the cluster's and this
//!   node's names ([`Hello`], 200, JSON), for its operator to confirm;
//! - `POST /v1/join` — a [`JoinRequest`] (JSON, at most 64 KiB) → a [`JoinResponse`] (200) or
//!   a [`Refusal`] (4xx/5xx);
//! - `GET /v1/status` — for peers: this node's host name, its directory's `contextCSN`, its
//!   mail queue, its mailboxes' disk use and its balancer's rows
//!   ([`pigeonair_join::NodeStatus`], 200, JSON; `crate::node_status`);
//! - `GET /v1/journal?lines=N` — for peers: the last N (default 100, at most 10000) lines of
//!   PigeonAir's units in this node's journal ([`JournalLines`], 200, JSON; a bad N is 400;
//!   `crate::journal`);
//! - `POST /v1/moved` — for peers: a [`MovedNotice`] from a mailbox's old home node; answered
//!   (200) once this node's directory has the move, its auth cache is flushed and its queue
//!   retried (`crate::moves::after_move`);
//! - `POST /v1/discard` — for peers: a [`pigeonair_join::DiscardCopy`] from the home node of a
//!   mailbox being copied here; the partial copy is deleted (`crate::moves::discard_copy`),
//!   refused unless the directory says the mailbox moves here from the asking node;
//! - `POST /v1/ca-key` — for a peer this node's directory shows becoming a provider
//!   (`pigeonctl node role NODE provider`), from its own private address, on a node holding
//!   the role `ca`: the cluster CA's key and its server ID ([`pigeonair_join::ProviderGrant`],
//!   200); 403 to anyone else (`crate::promotion`);
//! - `POST /v1/renew` — for a peer in the cluster, from its own private address, on a node
//!   holding the role `ca`: a [`pigeonair_join::RenewRequest`] → its new certificate
//!   ([`pigeonair_join::RenewResponse`], 200), the serial recorded on its entry first; 403 to
//!   anyone else, 400 for a bad request (`crate::renewal`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use pigeonair_appliance::render::{CLUSTER_CA_CERT, CLUSTER_CERT, CLUSTER_KEY};
use pigeonair_join::{
    CONTROL_PORT, Hello, JoinRequest, JournalLines, MovedNotice, Refusal, RefusalKind,
};
use tokio::net::TcpListener;

use crate::join::{self, LocalCluster};

/// The largest request body accepted.
const MAX_BODY: usize = 64 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The node's cluster certificate or key could not be loaded.
    #[error("TLS set-up ({CLUSTER_CERT}, {CLUSTER_KEY}, {CLUSTER_CA_CERT}): {0}")]
    Tls(#[from] openssl::error::ErrorStack),
    /// The address could not be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The TLS acceptor: the node's cluster certificate and the CA in its chain; client
/// certificates asked for, and verified against the CA when given.
pub fn acceptor() -> Result<SslAcceptor, openssl::error::ErrorStack> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_private_key_file(CLUSTER_KEY, SslFiletype::PEM)?;
    b.set_certificate_file(CLUSTER_CERT, SslFiletype::PEM)?;
    let ca = X509::from_pem(
        &std::fs::read(CLUSTER_CA_CERT).map_err(|_| openssl::error::ErrorStack::get())?,
    )?;
    b.add_extra_chain_cert(ca)?;
    b.check_private_key()?;
    b.set_ca_file(CLUSTER_CA_CERT)?;
    // A removed node's certificate is refused: the cluster CA's revocation list, once there is
    // one (crate::revocation), is checked for every client certificate.
    let crl = crate::revocation::CLUSTER_CRL;
    if std::path::Path::new(crl).exists() {
        b.cert_store_mut()
            .add_lookup(openssl::x509::store::X509Lookup::file())?
            .load_crl_file(crl, SslFiletype::PEM)?;
        b.cert_store_mut()
            .set_flags(openssl::x509::verify::X509VerifyFlags::CRL_CHECK)?;
    }
    b.set_verify(SslVerifyMode::PEER);
    Ok(b.build())
}

fn json(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn message(status: u16, text: impl std::fmt::Display) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({ "message": text.to_string() }).to_string(),
    )
}

/// The asking peer's host name, or the 403 for a connection without a cluster certificate.
// The error is the answer itself, sent back to the peer as it is.
#[allow(clippy::result_large_err)]
fn peer_only(peer: Option<String>) -> Result<String, Response<Full<Bytes>>> {
    peer.ok_or_else(|| message(403, "a cluster peer's certificate is required"))
}

/// The request's JSON body as a `T` (`what` names it in the 400).
// The error is the answer itself, sent back to the peer as it is.
#[allow(clippy::result_large_err)]
async fn body_of<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
    what: &str,
) -> Result<T, Response<Full<Bytes>>> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| message(400, "the body was cut"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| message(400, format!("not {what}: {e}")))
}

/// Runs `f` off the runtime's thread: its answer, or the 500 if it panicked.
// The error is the answer itself, sent back to the peer as it is.
#[allow(clippy::result_large_err)]
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<Result<T, String>, Response<Full<Bytes>>> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| message(500, e))
}

fn refusal(r: &Refusal) -> Response<Full<Bytes>> {
    json(
        r.kind.status(),
        serde_json::to_string(r).expect("serialises"),
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn route(
    req: Request<Incoming>,
    from: SocketAddr,
    peer: Option<String>,
    cluster: Arc<Result<LocalCluster, String>>,
    hostname: Arc<String>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    Ok(match (req.method().clone(), path.as_str()) {
        (Method::POST, "/v1/join") => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return Ok(refusal(&Refusal::new(
                        RefusalKind::BadRequest,
                        format!("the request body is over {MAX_BODY} bytes or was cut"),
                    )));
                }
            };
            let request: JoinRequest = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => {
                    return Ok(refusal(&Refusal::new(
                        RefusalKind::BadRequest,
                        format!("the request is not a join request: {e}"),
                    )));
                }
            };
            let cluster = match &*cluster {
                Ok(_) => cluster.clone(),
                Err(e) => {
                    log::error!("join refused: this node cannot serve joins: {e}");
                    return Ok(refusal(&Refusal::new(
                        RefusalKind::Internal,
                        format!("this node cannot serve joins: {e}"),
                    )));
                }
            };
            let host = request.hostname.clone();
            let answer = tokio::task::spawn_blocking(move || {
                let c = cluster.as_ref().as_ref().expect("checked above");
                join::handle(c, &request, now())
            })
            .await;
            match answer {
                Ok(Ok(resp)) => {
                    log::info!("join: {host} accepted; its certificate is signed");
                    json(200, serde_json::to_string(&resp).expect("serialises"))
                }
                Ok(Err(r)) => {
                    log::warn!("join refused for {host}: {}", r.message);
                    refusal(&r)
                }
                Err(e) => refusal(&Refusal::new(
                    RefusalKind::Internal,
                    format!("the join handler failed: {e}"),
                )),
            }
        }
        (Method::GET, "/v1/hello") => match &*cluster {
            Ok(c) => json(
                200,
                serde_json::to_string(&Hello {
                    cluster: c.name().to_owned(),
                    hostname: (*hostname).clone(),
                })
                .expect("serialises"),
            ),
            Err(e) => json(
                503,
                serde_json::json!({ "message": format!("this node cannot serve joins: {e}") })
                    .to_string(),
            ),
        },
        (Method::GET, "/v1/status") => match peer {
            Some(p) => {
                log::debug!("status asked by {p}");
                let host = (*hostname).clone();
                let status =
                    tokio::task::spawn_blocking(move || crate::node_status::gather(&host)).await;
                match status {
                    Ok(Ok(status)) => {
                        json(200, serde_json::to_string(&status).expect("serialises"))
                    }
                    Ok(Err(e)) => json(
                        503,
                        serde_json::json!({ "message": format!("the directory here: {e}") })
                            .to_string(),
                    ),
                    Err(e) => json(
                        500,
                        serde_json::json!({ "message": e.to_string() }).to_string(),
                    ),
                }
            }
            None => json(
                403,
                serde_json::json!({ "message": "a cluster peer's certificate is required" })
                    .to_string(),
            ),
        },
        (Method::GET, "/v1/journal") => {
            let Some(p) = peer else {
                return Ok(json(
                    403,
                    serde_json::json!({ "message": "a cluster peer's certificate is required" })
                        .to_string(),
                ));
            };
            let lines = match crate::journal::lines_asked(req.uri().query()) {
                Ok(n) => n,
                Err(e) => {
                    return Ok(json(400, serde_json::json!({ "message": e }).to_string()));
                }
            };
            log::debug!("{lines} journal lines asked by {p}");
            match tokio::task::spawn_blocking(move || crate::journal::read(lines)).await {
                Ok(Ok(lines)) => json(
                    200,
                    serde_json::to_string(&JournalLines { lines }).expect("serialises"),
                ),
                Ok(Err(e)) => json(503, serde_json::json!({ "message": e }).to_string()),
                Err(e) => json(
                    500,
                    serde_json::json!({ "message": e.to_string() }).to_string(),
                ),
            }
        }
        (Method::POST, "/v1/moved") => {
            let answer = async {
                let p = peer_only(peer)?;
                let notice: MovedNotice = body_of(req, "a moved notice").await?;
                Ok(
                    match blocking(move || crate::moves::after_move(&notice)).await? {
                        Ok(flushed) => {
                            log::info!(
                                "told by {p} of a mailbox move: auth cache flushed ({flushed}), \
                                 queue retried"
                            );
                            json(200, "{}".into())
                        }
                        Err(e) => message(503, e),
                    },
                )
            };
            answer.await.unwrap_or_else(|r: Response<Full<Bytes>>| r)
        }
        (Method::POST, "/v1/discard") => {
            let answer = async {
                let p = peer_only(peer)?;
                let request: pigeonair_join::DiscardCopy =
                    body_of(req, "a discard request").await?;
                let me = (*hostname).clone();
                Ok(
                    match blocking(move || crate::moves::discard_copy(&me, &p, &request.user))
                        .await?
                    {
                        Ok(what) => {
                            log::info!("{what}");
                            message(200, what)
                        }
                        Err(e) => {
                            log::warn!("discard refused: {e}");
                            message(409, e)
                        }
                    },
                )
            };
            answer.await.unwrap_or_else(|r: Response<Full<Bytes>>| r)
        }
        (Method::POST, "/v1/ca-key") => {
            let answer = async {
                let p = peer_only(peer)?;
                let (me, asker) = ((*hostname).clone(), p.clone());
                Ok(
                    match blocking(move || crate::promotion::grant(&me, &asker, from.ip())).await? {
                        Ok(grant) => json(200, serde_json::to_string(&grant).expect("serialises")),
                        Err(e) => {
                            log::warn!("the CA's key refused to {p} ({from}): {e}");
                            message(403, e)
                        }
                    },
                )
            };
            answer.await.unwrap_or_else(|r: Response<Full<Bytes>>| r)
        }
        (Method::POST, "/v1/renew") => {
            let answer = async {
                let p = peer_only(peer)?;
                let renew: pigeonair_join::RenewRequest = body_of(req, "a renewal request").await?;
                let (me, asker) = ((*hostname).clone(), p.clone());
                Ok(
                    match blocking(move || {
                        crate::renewal::renew_for(&me, &asker, from.ip(), &renew)
                    })
                    .await?
                    {
                        Ok(r) => json(200, serde_json::to_string(&r).expect("serialises")),
                        Err(e) => {
                            log::warn!("a new certificate refused to {p} ({from}): {e}");
                            message(403, e)
                        }
                    },
                )
            };
            answer.await.unwrap_or_else(|r: Response<Full<Bytes>>| r)
        }
        _ => json(
            404,
            serde_json::json!({ "message": format!("no route {path}") }).to_string(),
        ),
    })
}

/// Where to listen (the private address from the installed answers) and this node's host name.
pub fn listen_address() -> Result<(SocketAddr, String), String> {
    let text = std::fs::read_to_string(join::SAVED_ANSWERS)
        .map_err(|e| format!("{}: {e}", join::SAVED_ANSWERS))?;
    let plan = pigeonair_appliance::parse_answers(&text)
        .map_err(|e| format!("{}: {e}", join::SAVED_ANSWERS))?;
    Ok((
        SocketAddr::new(plan.private.address.addr().into(), CONTROL_PORT),
        plan.hostname.to_string(),
    ))
}

/// Runs the server on a runtime of its own, retrying every 5 s while it cannot start (no
/// answers or certificate yet, address not up). Never returns.
pub fn run_forever() {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log::error!("control plane: no runtime: {e}");
            return;
        }
    };
    let mut last: Option<String> = None;
    loop {
        let outcome = match listen_address() {
            Ok((addr, host)) => runtime
                .block_on(serve(addr, host))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            if last.as_deref() != Some(e.as_str()) {
                log::warn!("control plane not serving ({e}); retrying every 5 s");
                last = Some(e);
            }
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// Serves on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, hostname: String) -> Result<(), ServerError> {
    // Made again for each connection (below), so a new revocation list applies at once; this
    // first one checks the certificate and key load.
    acceptor()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let cluster = Arc::new(LocalCluster::load());
    if let Err(e) = &*cluster {
        log::warn!("this node cannot serve joins: {e}");
    }
    let hostname = Arc::new(hostname);
    log::info!("control plane listening on https://{addr}/ (port {CONTROL_PORT})");
    loop {
        let (tcp, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                log::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = match acceptor() {
            Ok(a) => a,
            Err(e) => {
                log::warn!("TLS set-up for a connection from {from}: {e}");
                continue;
            }
        };
        let cluster = cluster.clone();
        let hostname = hostname.clone();
        tokio::spawn(async move {
            let handshake = async {
                let ssl = Ssl::new(acceptor.context()).map_err(|e| e.to_string())?;
                let mut tls = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
                Pin::new(&mut tls)
                    .accept()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(tls)
            };
            let tls = match tokio::time::timeout(REQUEST_TIMEOUT, handshake).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    log::debug!("TLS handshake with {from} failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            // Verified against the cluster CA by the handshake (SslVerifyMode::PEER).
            let peer = tls.ssl().peer_certificate().and_then(|c| {
                c.subject_name()
                    .entries_by_nid(openssl::nid::Nid::COMMONNAME)
                    .next()
                    .and_then(|e| e.data().to_string().ok())
            });
            let service = service_fn(move |req| {
                route(req, from, peer.clone(), cluster.clone(), hostname.clone())
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .serve_connection(TokioIo::new(tls), service);
            if let Err(e) = conn.await {
                log::debug!("connection from {from}: {e}");
            }
        });
    }
}
