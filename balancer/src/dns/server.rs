//! The DNS server's sockets: UDP and TCP on each listen address, every query answered by
//! [`super::answer`] / [`super::answer_tcp`] from the [`DnsView`] current when it arrives.
//!
//! Listen on specific addresses rather than `0.0.0.0`/`[::]`: a UDP socket bound to a wildcard
//! replies from whatever source address the routing table picks, which resolvers drop on a
//! multi-homed host; and `[::]` also takes IPv4 on Linux, so a second `0.0.0.0` on the same
//! port fails to bind.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::{DnsView, answer, answer_tcp};

/// How long a TCP connection may sit between queries, or take to send one query or receive one
/// reply, before we close it (RFC 7766 §6.2.3 suggests seconds, not minutes).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// TCP connections served at once, over all listen addresses; more are closed on accept, so a
/// flood of idle connections cannot take the daemon's file descriptors.
pub const MAX_TCP_CONNECTIONS: usize = 64;

/// The largest UDP datagram, in bytes: anything larger than a query can be is read whole (and
/// then answered FORMERR) rather than cut.
const UDP_BUFFER: usize = 65_535;

/// Pause after a socket error, so a persistent one (e.g. out of file descriptors) cannot spin.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Binds UDP and TCP on every address in `listen`, then serves until a socket fails for good.
/// Each query reads the view current at that moment from `view`. A bind error names the address.
pub async fn serve(listen: Vec<SocketAddr>, view: watch::Receiver<Arc<DnsView>>) -> io::Result<()> {
    DnsListeners::bind(&listen).await?.serve(view).await
}

/// Bound but not yet serving sockets: bind first (e.g. port 53 before dropping privileges, or to
/// learn the port when given port 0), serve after.
#[derive(Debug)]
pub struct DnsListeners {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
}

/// `e` with the transport and address it happened on, for the operator.
fn on_address(e: io::Error, what: &str, addr: SocketAddr) -> io::Error {
    io::Error::new(e.kind(), format!("DNS {what} {addr}: {e}"))
}

impl DnsListeners {
    /// Binds TCP, then UDP on the same address and port. With port 0 the kernel picks TCP's
    /// port and UDP takes the same one, so both serve one address.
    pub async fn bind(listen: &[SocketAddr]) -> io::Result<DnsListeners> {
        let mut out = DnsListeners {
            udp: Vec::new(),
            tcp: Vec::new(),
        };
        for &addr in listen {
            let tcp = TcpListener::bind(addr)
                .await
                .map_err(|e| on_address(e, "TCP bind", addr))?;
            let bound = tcp
                .local_addr()
                .map_err(|e| on_address(e, "TCP bind", addr))?;
            let udp = UdpSocket::bind(bound)
                .await
                .map_err(|e| on_address(e, "UDP bind", bound))?;
            out.tcp.push(tcp);
            out.udp.push(udp);
        }
        Ok(out)
    }

    /// The bound addresses, in listen order (each serves UDP and TCP).
    pub fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.udp.iter().map(UdpSocket::local_addr).collect()
    }

    /// Serves every bound socket until one fails for good; dropping the future stops them all.
    pub async fn serve(self, view: watch::Receiver<Arc<DnsView>>) -> io::Result<()> {
        let connections = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
        let mut tasks = JoinSet::new();
        for udp in self.udp {
            tasks.spawn(serve_udp(udp, view.clone()));
        }
        for tcp in self.tcp {
            tasks.spawn(serve_tcp(tcp, view.clone(), connections.clone()));
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(io::Error::other)??;
        }
        Ok(())
    }
}

/// One UDP socket: a datagram in, at most one datagram out. Errors on one datagram (e.g. a
/// reply to an unreachable client) are logged and the loop goes on.
async fn serve_udp(socket: UdpSocket, view: watch::Receiver<Arc<DnsView>>) -> io::Result<()> {
    let local = socket.local_addr()?;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                log::warn!("DNS UDP {local}: receive: {e}");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if peer.port() == 0 {
            // Nobody can receive a reply at port 0; answering would only reflect traffic.
            continue;
        }
        let current = view.borrow().clone();
        if let Some(reply) = answer(&current, &buf[..len]) {
            if let Err(e) = socket.send_to(&reply, peer).await {
                log::debug!("DNS UDP {local}: reply to {peer}: {e}");
            }
        }
    }
}

/// One TCP listener: each connection in its own task, at most [`MAX_TCP_CONNECTIONS`] at once.
/// Connections end with the listener's task.
async fn serve_tcp(
    listener: TcpListener,
    view: watch::Receiver<Arc<DnsView>>,
    connections: Arc<Semaphore>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let mut running = JoinSet::new();
    loop {
        let accepted = listener.accept().await;
        while running.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(got) => got,
            Err(e) => {
                log::warn!("DNS TCP {local}: accept: {e}");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            log::debug!("DNS TCP {local}: {peer}: {MAX_TCP_CONNECTIONS} connections open, closing");
            continue;
        };
        let view = view.clone();
        running.spawn(async move {
            if let Err(e) = serve_connection(stream, view).await {
                log::debug!("DNS TCP {local}: {peer}: {e}");
            }
            drop(permit);
        });
    }
}

/// Queries on one TCP connection, each behind a 2-byte length (network byte order), answered in
/// order. Ends at the client's close, after [`TCP_IDLE_TIMEOUT`] without a whole query, or at
/// a message we drop (garbage or a response).
async fn serve_connection(
    mut stream: TcpStream,
    view: watch::Receiver<Arc<DnsView>>,
) -> io::Result<()> {
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "idle");
    let mut query = Vec::new();
    loop {
        let mut len = [0u8; 2];
        match timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut len)).await {
            Err(_) => return Ok(()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(_)) => {}
        }
        query.resize(usize::from(u16::from_be_bytes(len)), 0);
        timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut query))
            .await
            .map_err(|_| timed_out())??;
        let current = view.borrow().clone();
        let Some(reply) = answer_tcp(&current, &query) else {
            return Ok(());
        };
        // answer_tcp keeps replies within 65535 bytes, so the length fits the prefix.
        let reply_len = u16::try_from(reply.len()).map_err(io::Error::other)?;
        let mut framed = Vec::with_capacity(2 + reply.len());
        framed.extend_from_slice(&reply_len.to_be_bytes());
        framed.extend_from_slice(&reply);
        timeout(TCP_IDLE_TIMEOUT, stream.write_all(&framed))
            .await
            .map_err(|_| timed_out())??;
    }
}
