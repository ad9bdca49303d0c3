//! Fetches the answers from the URL on the kernel command line: one `GET` over HTTP/1.1, or
//! HTTPS checked against the system's CA store (`/etc/ssl/certs`, Debian's ca-certificates, as
//! OpenSSL finds it by default) and the URL's host name. Redirects are not followed: a 3xx is
//! an error naming where it points. The shell over hyper, tokio and OpenSSL; what to fetch is
//! [`super::source::AnswersUrl`].

use std::pin::Pin;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use openssl::ssl::{SslConnector, SslMethod};
use tokio::net::TcpStream;

use super::source::{AnswersUrl, Scheme};

/// How long connecting (the name looked up, TCP, TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the whole request may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answers file taken, bytes.
const MAX_BYTES: usize = 1 << 20;

/// Why the answers could not be fetched; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No TCP (or TLS) connection to the server.
    #[error("{url}: cannot connect to {authority}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// `host:port`.
        authority: String,
        /// Why (the name did not resolve, refused, timed out, the certificate did not verify).
        reason: String,
    },
    /// The server answered, but not with the file.
    #[error("{url}: the server answered HTTP {status}{location}")]
    Status {
        /// The URL.
        url: String,
        /// The status line's code and reason (`404 Not Found`).
        status: String,
        /// `" (Location: …; redirects are not followed)"` for a redirect.
        location: String,
    },
    /// The exchange broke off, timed out, or the body is not an answers file's.
    #[error("{url}: {reason}")]
    Exchange {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// The text at `url`.
pub fn fetch(url: &AnswersUrl) -> Result<String, FetchError> {
    let exchange = |reason: String| FetchError::Exchange {
        url: url.to_string(),
        reason,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| exchange(format!("starting the HTTP client: {e}")))?;
    rt.block_on(async {
        tokio::time::timeout(TIMEOUT, get(url))
            .await
            .unwrap_or_else(|_| {
                Err(exchange(format!(
                    "no answer within {} s",
                    TIMEOUT.as_secs()
                )))
            })
    })
}

async fn get(url: &AnswersUrl) -> Result<String, FetchError> {
    let connect = |reason: String| FetchError::Connect {
        url: url.to_string(),
        authority: url.authority(),
        reason,
    };
    let exchange = |reason: String| FetchError::Exchange {
        url: url.to_string(),
        reason,
    };
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((url.host.as_str(), url.port)),
    )
    .await
    .map_err(|_| connect(format!("timed out after {} s", CONNECT_TIMEOUT.as_secs())))?
    .map_err(|e| connect(e.to_string()))?;
    let req = hyper::Request::builder()
        .method("GET")
        .uri(url.path.as_str())
        .header("host", host_header(url))
        .header(
            "user-agent",
            concat!("pigeonair-install/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| exchange(e.to_string()))?;
    let resp = match url.scheme {
        Scheme::Http => {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| exchange(e.to_string()))?;
            tokio::spawn(conn);
            sender.send_request(req).await
        }
        Scheme::Https => {
            // SslConnector: the default CA paths, and the host name checked (and sent as SNI).
            let connector = SslConnector::builder(SslMethod::tls_client())
                .map_err(|e| connect(e.to_string()))?
                .build();
            let ssl = connector
                .configure()
                .and_then(|c| c.into_ssl(&url.host))
                .map_err(|e| connect(e.to_string()))?;
            let mut tls =
                tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| connect(e.to_string()))?;
            tokio::time::timeout(CONNECT_TIMEOUT, Pin::new(&mut tls).connect())
                .await
                .map_err(|_| connect("the TLS handshake timed out".into()))?
                .map_err(|e| {
                    let verify = tls.ssl().verify_result();
                    connect(format!("TLS: {e} (certificate check: {verify})"))
                })?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| exchange(e.to_string()))?;
            tokio::spawn(conn);
            sender.send_request(req).await
        }
    }
    .map_err(|e| exchange(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(|l| format!(" (Location: {l}; redirects are not followed)"))
            .unwrap_or_default();
        return Err(FetchError::Status {
            url: url.to_string(),
            status: status.to_string(),
            location,
        });
    }
    let body = Limited::new(resp.into_body(), MAX_BYTES)
        .collect()
        .await
        .map_err(|e| {
            exchange(format!(
                "reading the answers (at most {MAX_BYTES} bytes): {e}"
            ))
        })?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|_| exchange("the answers are not UTF-8 text".into()))
}

/// The `Host` header: the port only when it is not the scheme's.
fn host_header(url: &AnswersUrl) -> String {
    let default = match url.scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    if url.port == default {
        url.authority()
            .rsplit_once(':')
            .map(|(h, _)| h.to_owned())
            .unwrap_or_default()
    } else {
        url.authority()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A server on loopback that answers one request with `response`; returns its port and
    /// the request it got.
    fn serve_once(response: &'static str) -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(response.as_bytes()).unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (port, handle)
    }

    fn url(s: &str) -> AnswersUrl {
        s.parse().unwrap()
    }

    #[test]
    fn the_file_is_fetched() {
        let (port, server) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 21\r\nConnection: close\r\n\r\n[cluster]\nname = \"p\"\n",
        );
        let text = fetch(&url(&format!("http://127.0.0.1:{port}/mx1.toml?x=1"))).unwrap();
        assert_eq!(text, "[cluster]\nname = \"p\"\n");
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /mx1.toml?x=1 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{request}"
        );
    }

    #[test]
    fn a_status_that_is_not_the_file_is_named() {
        let (port, server) =
            serve_once("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let u = format!("http://127.0.0.1:{port}/none.toml");
        let e = fetch(&url(&u)).unwrap_err().to_string();
        assert_eq!(e, format!("{u}: the server answered HTTP 404 Not Found"));
        server.join().unwrap();
        let (port, server) = serve_once(
            "HTTP/1.1 302 Found\r\nLocation: http://elsewhere/a.toml\r\nContent-Length: 0\r\n\r\n",
        );
        let u = format!("http://127.0.0.1:{port}/");
        let e = fetch(&url(&u)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{u}: the server answered HTTP 302 Found (Location: http://elsewhere/a.toml; \
                 redirects are not followed)"
            )
        );
        server.join().unwrap();
    }

    #[test]
    fn a_refused_connection_is_named() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let u = format!("http://127.0.0.1:{port}/a.toml");
        let e = fetch(&url(&u)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{u}: cannot connect to 127.0.0.1:{port}: ")),
            "{e}"
        );
        assert!(e.contains("refused"), "{e}");
    }

    /// An HTTPS server whose certificate no CA in the store signed is refused, naming why.
    #[test]
    fn https_checks_the_certificate() {
        use openssl::asn1::Asn1Time;
        use openssl::ec::{EcGroup, EcKey};
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        use openssl::ssl::SslAcceptor;
        use openssl::x509::{X509, X509NameBuilder};

        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "localhost").unwrap();
        let name = name.build();
        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = cert.build();
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        acceptor.set_private_key(&key).unwrap();
        acceptor.set_certificate(&cert).unwrap();
        let acceptor = acceptor.build();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            // The client gives up in the handshake.
            let _ = acceptor.accept(s);
        });
        let u = format!("https://localhost:{port}/a.toml");
        let e = fetch(&url(&u)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{u}: cannot connect to localhost:{port}: TLS: ")),
            "{e}"
        );
        assert!(e.contains("self-signed certificate"), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn host_headers() {
        assert_eq!(host_header(&url("https://a.example/x")), "a.example");
        assert_eq!(
            host_header(&url("http://a.example:8080/x")),
            "a.example:8080"
        );
        assert_eq!(host_header(&url("http://[fd00::1]/x")), "[fd00::1]");
    }
}
