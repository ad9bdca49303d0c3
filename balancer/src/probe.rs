//! The health checks' dialogues, over TCP and optionally TLS: SMTP (`220` greeting, `EHLO`,
//! `QUIT`), IMAP (`* OK`, `LOGOUT`) and POP3 (`+OK`, `QUIT`). Each check has two bounds: one
//! for the TCP connect, which the node's kernel answers even when its daemons are starved of
//! CPU (so it can be short: a node that is off or unplugged is seen at once), and a longer one
//! for the TLS handshake and the dialogue, which the daemon answers (so a node busy with a
//! delivery burst is slow, not dead). A stopped daemon refuses the connect outright, which is
//! seen at once too. Certificates are not verified: the
//! check asks "does this node's daemon answer", not "is this the right server" (the nodes'
//! addresses come from the cluster's own config).

use std::net::SocketAddr;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::Protocol;

/// Runs one check of `addr`: the connect within `connect_timeout`, then the TLS handshake (when
/// `tls`) and the dialogue within `reply_timeout`; `Err` says what failed, for status and the
/// journal.
pub async fn check(
    addr: SocketAddr,
    protocol: Protocol,
    tls: bool,
    connect_timeout: Duration,
    reply_timeout: Duration,
) -> Result<(), String> {
    let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(format!("connect: {e}")),
        Err(_) => {
            return Err(format!(
                "no TCP answer within {} ms",
                connect_timeout.as_millis()
            ));
        }
    };
    match tokio::time::timeout(reply_timeout, session(tcp, protocol, tls)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "connected, but no reply within {} ms",
            reply_timeout.as_millis()
        )),
    }
}

async fn session(tcp: TcpStream, protocol: Protocol, tls: bool) -> Result<(), String> {
    let _ = tcp.set_nodelay(true);
    if tls {
        let mut b =
            SslConnector::builder(SslMethod::tls_client()).map_err(|e| format!("TLS: {e}"))?;
        b.set_verify(SslVerifyMode::NONE);
        let ssl = b
            .build()
            .configure()
            .and_then(|mut c| {
                c.set_verify_hostname(false);
                c.set_use_server_name_indication(false);
                c.into_ssl("")
            })
            .map_err(|e| format!("TLS: {e}"))?;
        let mut stream =
            tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| format!("TLS: {e}"))?;
        std::pin::Pin::new(&mut stream)
            .connect()
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        dialogue(stream, protocol).await
    } else {
        dialogue(tcp, protocol).await
    }
}

async fn line<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> Result<String, String> {
    let mut l = String::new();
    let n = r
        .read_line(&mut l)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if n == 0 {
        return Err("connection closed".into());
    }
    Ok(l.trim_end().to_string())
}

/// Reads an SMTP reply (continuation lines `NNN-`) and returns its last line.
async fn smtp_reply<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> Result<String, String> {
    loop {
        let l = line(r).await?;
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return Ok(l);
        }
    }
}

async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    protocol: Protocol,
) -> Result<(), String> {
    let mut r = BufReader::new(stream);
    let write = |s: &'static str| s.as_bytes();
    match protocol {
        Protocol::Smtp => {
            let greeting = smtp_reply(&mut r).await?;
            if !greeting.starts_with("220") {
                return Err(format!("greeting {greeting:?}, expected 220"));
            }
            r.get_mut()
                .write_all(write("EHLO pigeonair-balancer\r\n"))
                .await
                .map_err(|e| format!("write: {e}"))?;
            let ehlo = smtp_reply(&mut r).await?;
            if !ehlo.starts_with("250") {
                return Err(format!("EHLO answered {ehlo:?}, expected 250"));
            }
            let _ = r.get_mut().write_all(write("QUIT\r\n")).await;
            let _ = smtp_reply(&mut r).await;
        }
        Protocol::Imap => {
            let greeting = line(&mut r).await?;
            if !greeting.starts_with("* OK") {
                return Err(format!("greeting {greeting:?}, expected * OK"));
            }
            let _ = r.get_mut().write_all(write("p LOGOUT\r\n")).await;
        }
        Protocol::Pop3 => {
            let greeting = line(&mut r).await?;
            if !greeting.starts_with("+OK") {
                return Err(format!("greeting {greeting:?}, expected +OK"));
            }
            let _ = r.get_mut().write_all(write("QUIT\r\n")).await;
        }
    }
    let _ = r.get_mut().shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A one-shot server that writes `greeting`, then answers every line with `reply`.
    async fn server(greeting: &'static str, reply: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(greeting.as_bytes()).await;
                let mut buf = [0u8; 256];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            }
        });
        addr
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn dialogues_pass_and_fail_on_the_right_replies() {
        rt().block_on(async {
            let t = Duration::from_secs(2);
            let check = |addr, protocol, tls, t| check(addr, protocol, tls, t, t);
            let smtp = server(
                "220-mx ESMTP\r\n220 ready\r\n",
                "250-mx\r\n250 8BITMIME\r\n",
            )
            .await;
            assert_eq!(check(smtp, Protocol::Smtp, false, t).await, Ok(()));
            let busy = server("421 too busy\r\n", "").await;
            assert!(
                check(busy, Protocol::Smtp, false, t)
                    .await
                    .unwrap_err()
                    .contains("421")
            );
            let imap = server("* OK [CAPABILITY IMAP4rev1] ready\r\n", "").await;
            assert_eq!(check(imap, Protocol::Imap, false, t).await, Ok(()));
            assert!(
                check(imap, Protocol::Pop3, false, t)
                    .await
                    .unwrap_err()
                    .contains("+OK")
            );
            // Connected (the kernel completes the handshake of a listener that never accepts)
            // but no greeting: the reply bound applies, not the connect bound.
            let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let started = std::time::Instant::now();
            let e = super::check(
                silent.local_addr().unwrap(),
                Protocol::Pop3,
                false,
                Duration::from_millis(50),
                Duration::from_millis(300),
            )
            .await;
            assert_eq!(e, Err("connected, but no reply within 300 ms".into()));
            assert!(started.elapsed() >= Duration::from_millis(300));
            drop(silent);
            let closed = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap()
            };
            assert!(
                check(closed, Protocol::Imap, false, t)
                    .await
                    .unwrap_err()
                    .starts_with("connect:")
            );
        });
    }
}
