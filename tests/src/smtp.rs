//! A minimal SMTP/LMTP sender for benchmarks: one message per connection, the dialogue a real
//! MTA has (banner, EHLO or LHLO, MAIL, RCPT, DATA, QUIT), and a check of every reply code.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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
    addr: SocketAddr,
    proto: Protocol,
    from: &str,
    rcpt: &str,
    body: &str,
) -> io::Result<()> {
    send_timed(addr, proto, from, rcpt, body).map(|_| ())
}

/// [`send`], timing each command.
pub fn send_timed(
    addr: SocketAddr,
    proto: Protocol,
    from: &str,
    rcpt: &str,
    body: &str,
) -> io::Result<Timings> {
    use std::time::Instant;
    let mut t = Timings::default();
    let start = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    stream.set_nodelay(true)?;
    let mut w = stream;
    reply(&mut reader, '2')?;
    t.banner = start.elapsed();
    let hello = match proto {
        Protocol::Smtp => "EHLO",
        Protocol::Lmtp => "LHLO",
    };
    let mut step = |w: &mut TcpStream, line: &[u8], expect: char| -> io::Result<Duration> {
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
    addr: SocketAddr,
    proto: Protocol,
    rcpts: &[String],
    n: usize,
    concurrency: usize,
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
            std::thread::spawn(move || -> io::Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    let rcpt = &rcpts[i % rcpts.len()];
                    let body = format!(
                        "From: bench@client.example\r\nTo: {rcpt}\r\nSubject: bench {i}\r\n\r\n{}\r\n",
                        "A line of a benchmark message body, about a hundred bytes long, repeated. "
                            .repeat(20)
                    );
                    send(addr, proto, "bench@client.example", rcpt, &body)?;
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
