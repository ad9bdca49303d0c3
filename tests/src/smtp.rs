//! A minimal SMTP/LMTP sender for benchmarks: one message per connection, the dialogue a real
//! MTA has (banner, EHLO or LHLO, MAIL, RCPT, DATA, QUIT), and a check of every reply code.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where the server listens: a TCP address, or a Unix socket (a path starting with `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `ADDRESS:PORT`.
    Tcp(SocketAddr),
    /// `/path/to/socket`.
    Unix(PathBuf),
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(s)));
        }
        s.parse()
            .map(Endpoint::Tcp)
            .map_err(|_| format!("{s:?}: give ADDRESS:PORT or the path of a Unix socket"))
    }
}

/// One connection, TCP or Unix.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn connect(to: &Endpoint) -> io::Result<Stream> {
        let s = match to {
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, Duration::from_secs(10))?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(30)))?;
                Stream::Tcp(s)
            }
            Endpoint::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(Duration::from_secs(30)))?;
                Stream::Unix(s)
            }
        };
        Ok(s)
    }

    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// SMTP (`EHLO`) or LMTP (`LHLO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SMTP.
    Smtp,
    /// LMTP.
    Lmtp,
}

fn reply(reader: &mut impl BufRead, expect: char) -> io::Result<()> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        if !line.starts_with(expect) {
            return Err(io::Error::other(format!(
                "unexpected reply: {}",
                line.trim_end()
            )));
        }
        // "250-" continues a multi-line reply; "250 " ends it.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

/// How long each step of one transaction took, from sending the command to the end of its
/// reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Connect and banner.
    pub banner: Duration,
    /// EHLO or LHLO.
    pub hello: Duration,
    /// MAIL FROM.
    pub mail: Duration,
    /// RCPT TO.
    pub rcpt: Duration,
    /// The message and its final dot, until the reply.
    pub end_of_data: Duration,
}

/// Sends one message with `body` (CRLF lines, without the final dot) to `rcpt`.
pub fn send(
    addr: &Endpoint,
    proto: Protocol,
    from: &str,
    rcpt: &str,
    body: &str,
) -> io::Result<()> {
    send_timed(addr, proto, from, rcpt, body).map(|_| ())
}

/// [`send`], timing each command.
pub fn send_timed(
    addr: &Endpoint,
    proto: Protocol,
    from: &str,
    rcpt: &str,
    body: &str,
) -> io::Result<Timings> {
    use std::time::Instant;
    let mut t = Timings::default();
    let start = Instant::now();
    let stream = Stream::connect(addr)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    reply(&mut reader, '2')?;
    t.banner = start.elapsed();
    let hello = match proto {
        Protocol::Smtp => "EHLO",
        Protocol::Lmtp => "LHLO",
    };
    let mut step = |w: &mut Stream, line: &[u8], expect: char| -> io::Result<Duration> {
        let s = Instant::now();
        w.write_all(line)?;
        reply(&mut reader, expect)?;
        Ok(s.elapsed())
    };
    t.hello = step(
        &mut w,
        format!("{hello} bench.client.example\r\n").as_bytes(),
        '2',
    )?;
    t.mail = step(&mut w, format!("MAIL FROM:<{from}>\r\n").as_bytes(), '2')?;
    t.rcpt = step(&mut w, format!("RCPT TO:<{rcpt}>\r\n").as_bytes(), '2')?;
    step(&mut w, b"DATA\r\n", '3')?;
    // LMTP answers once per recipient: one here.
    t.end_of_data = step(&mut w, format!("{body}.\r\n").as_bytes(), '2')?;
    let _ = step(&mut w, b"QUIT\r\n", '2');
    Ok(t)
}

/// Sends `n` messages over `concurrency` parallel connections, one message per connection,
/// message `i` to `rcpts[i % rcpts.len()]` (each about 1.5 kB). Fails on the first refused one.
pub fn send_many(
    addr: &Endpoint,
    proto: Protocol,
    rcpts: &[String],
    n: usize,
    concurrency: usize,
) -> io::Result<()> {
    send_many_tagged(addr, proto, rcpts, n, concurrency, None)
}

/// [`send_many`], message `i` with `Message-Id: <TAG-i@client.example>` when `tag` is given
/// (to count each message where it arrives).
pub fn send_many_tagged(
    addr: &Endpoint,
    proto: Protocol,
    rcpts: &[String],
    n: usize,
    concurrency: usize,
    tag: Option<&str>,
) -> io::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    if rcpts.is_empty() {
        return Err(io::Error::other("no recipients"));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let rcpts: Arc<Vec<String>> = Arc::new(rcpts.to_vec());
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let next = Arc::clone(&next);
            let rcpts = Arc::clone(&rcpts);
            let addr = addr.clone();
            let tag = tag.map(str::to_owned);
            std::thread::spawn(move || -> io::Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    let rcpt = &rcpts[i % rcpts.len()];
                    let id = tag
                        .as_ref()
                        .map(|t| format!("Message-Id: <{t}-{i}@client.example>\r\n"))
                        .unwrap_or_default();
                    let body = format!(
                        "From: bench@client.example\r\nTo: {rcpt}\r\n{id}Subject: bench {i}\r\n\r\n{}\r\n",
                        "A line of a benchmark message body, about a hundred bytes long, repeated. "
                            .repeat(20)
                    );
                    send(&addr, proto, "bench@client.example", rcpt, &body)?;
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| io::Error::other("sender panicked"))??;
    }
    Ok(())
}
