//! `admin-bench`: figures for the directory. Prints, never asserts.
//!
//! - `pigeonctl import` of N users (hashed passwords, as in a migration) against a raw
//!   `ldapadd` of the equivalent LDIF on the same node (the speed ratio is the figure);
//! - lookup latency for one user among N: Postfix (RCPT TO round trip on port 25) and Dovecot
//!   (IMAP LOGIN round trip on 143), measured inside the node on loopback, p50 and p99: RCPT
//!   and LOGIN of random users, and LOGIN of one user again and again (what the auth cache
//!   answers), first as installed (auth cache on) and then, in the same run, with Dovecot's
//!   auth cache off (`auth_cache_size = 0`, Dovecot's default).
//!
//! Run as root after `scripts/build`: `target/release/admin-bench [--users 100000] [--samples 300]`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use pigeonair_tests::support::LabCli;

#[derive(Parser)]
#[command(about = "Measure pigeonctl import against ldapadd, and Postfix/Dovecot lookup latency")]
struct Args {
    #[command(subcommand)]
    inner: Option<Inner>,
    /// Users to import.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Latency samples per daemon.
    #[arg(long, default_value_t = 300)]
    samples: usize,
}

#[derive(Subcommand)]
enum Inner {
    /// Measure lookup latency (run inside the node).
    Probe {
        #[arg(long)]
        users: usize,
        #[arg(long)]
        samples: usize,
    },
}

const PASSWORD: &str = "bench-password-1";

fn line(r: &mut impl BufRead) -> std::io::Result<String> {
    // A reply may be several lines; return its last.
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        if l.as_bytes().get(3) != Some(&b'-') {
            return Ok(l);
        }
    }
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0;
    (at(0.50), at(0.99))
}

/// A pseudo-random user index (xorshift; no need for a crate).
fn pick(state: &mut u64, n: usize) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % n as u64) as usize
}

fn probe(users: usize, samples: usize) -> anyhow::Result<()> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    // Postfix: RCPT TO on one session (RSET now and then); each RCPT looks the user up.
    let s = TcpStream::connect("127.0.0.1:25")?;
    let mut r = BufReader::new(s.try_clone()?);
    s.set_nodelay(true)?;
    let mut w = s;
    line(&mut r)?;
    w.write_all(b"EHLO bench\r\n")?;
    line(&mut r)?;
    let mut rcpt = Vec::new();
    for i in 0..samples {
        if i % 50 == 0 {
            w.write_all(b"RSET\r\nMAIL FROM:<bench@client.example>\r\n")?;
            line(&mut r)?;
            line(&mut r)?;
        }
        let user = format!("u{}@bench.example", pick(&mut seed, users));
        let t = Instant::now();
        w.write_all(format!("RCPT TO:<{user}>\r\n").as_bytes())?;
        let reply = line(&mut r)?;
        rcpt.push(t.elapsed());
        anyhow::ensure!(reply.starts_with("250"), "RCPT {user}: {reply}");
    }
    w.write_all(b"QUIT\r\n")?;
    // Dovecot: a LOGIN per connection (passdb and userdb lookups), on loopback where plain
    // LOGIN is allowed: random users, then one user again and again.
    let login_once = |user: &str| -> anyhow::Result<Duration> {
        let s = TcpStream::connect("127.0.0.1:143")?;
        let mut r = BufReader::new(s.try_clone()?);
        s.set_nodelay(true)?;
        let mut w = s;
        let mut greeting = String::new();
        r.read_line(&mut greeting)?;
        let t = Instant::now();
        w.write_all(format!("a LOGIN {user} {PASSWORD}\r\n").as_bytes())?;
        let reply = loop {
            let mut l = String::new();
            r.read_line(&mut l)?;
            if l.starts_with("a ") || l.is_empty() {
                break l;
            }
        };
        let took = t.elapsed();
        anyhow::ensure!(reply.starts_with("a OK"), "LOGIN {user}: {reply}");
        w.write_all(b"b LOGOUT\r\n")?;
        Ok(took)
    };
    let mut login = Vec::new();
    for _ in 0..samples {
        login.push(login_once(&format!(
            "u{}@bench.example",
            pick(&mut seed, users)
        ))?);
    }
    let one = format!("u{}@bench.example", pick(&mut seed, users));
    let mut again = Vec::new();
    for _ in 0..samples {
        again.push(login_once(&one)?);
    }
    let (p50, p99) = percentiles(rcpt);
    println!("Postfix RCPT lookup (1 of {users})   p50 {p50:.2} ms  p99 {p99:.2} ms");
    let (p50, p99) = percentiles(login);
    println!("Dovecot IMAP LOGIN (1 of {users})    p50 {p50:.2} ms  p99 {p99:.2} ms");
    let (p50, p99) = percentiles(again);
    println!("Dovecot IMAP LOGIN, same user again  p50 {p50:.2} ms  p99 {p99:.2} ms");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Inner::Probe { users, samples }) = args.inner {
        return probe(users, samples);
    }
    let dir = std::env::current_exe()?
        .parent()
        .map(|d| d.to_owned())
        .ok_or_else(|| anyhow::anyhow!("no directory"))?;
    let lab = LabCli::new(dir.join("pigeonair-lab"), "bench4");
    lab.run(&["down"]);
    lab.ok(&["up", "--nodes", "1"]);
    let n = args.users;
    let hash = String::from_utf8(
        Command::new("openssl")
            .args(["passwd", "-6", PASSWORD])
            .output()?
            .stdout,
    )?
    .trim()
    .to_owned();
    // The same users twice: a CSV for pigeonctl, an LDIF of equivalent entries for ldapadd.
    let scratch =
        std::env::temp_dir().join(format!("pigeonair-admin-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut csv = String::from("domain,bench.example\n");
    for i in 0..n {
        csv.push_str(&format!("user,u{i}@bench.example,{{CRYPT}}{hash}\n"));
    }
    let mut ldif = String::from(
        "dn: cn=raw.example,ou=domains,o=pigeonair\nobjectClass: pigeonairDomain\ncn: raw.example\npigeonairAccountStatus: active\n\n\
         dn: ou=users,cn=raw.example,ou=domains,o=pigeonair\nobjectClass: organizationalUnit\nou: users\n\n",
    );
    for i in 0..n {
        ldif.push_str(&format!(
            "dn: mail=u{i}@raw.example,ou=users,cn=raw.example,ou=domains,o=pigeonair\n\
             objectClass: inetOrgPerson\nobjectClass: inetLocalMailRecipient\nobjectClass: pigeonairMailUser\n\
             cn: u{i}\nsn: u{i}\nmail: u{i}@raw.example\nuserPassword: {{CRYPT}}{hash}\n\
             uidNumber: {}\ngidNumber: 10000\npigeonairMailboxId: raw-{i:08}\nmailHost: mx1.example.com\n\
             pigeonairQuotaBytes: 0\npigeonairAccountStatus: active\n\
             pigeonairEnabledService: smtp\npigeonairEnabledService: submission\n\
             pigeonairEnabledService: imap\npigeonairEnabledService: pop3\n\n",
            5_000_000 + i
        ));
    }
    let copy = |name: &str, content: &str| -> anyhow::Result<()> {
        let path = scratch.join(name);
        std::fs::write(&path, content)?;
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} --name bench4 exec node1 -- sh -c 'cat > /root/{name}' < {}",
                lab.bin().display(),
                path.display()
            ))
            .output()?;
        anyhow::ensure!(out.status.success(), "copy {name} failed");
        Ok(())
    };
    copy("users.csv", &csv)?;
    copy("users.ldif", &ldif)?;
    std::fs::remove_dir_all(&scratch)?;
    let me = std::env::current_exe()?;
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --name bench4 exec node1 -- sh -c 'cat > /usr/local/bin/admin-bench && chmod +x /usr/local/bin/admin-bench' < {}",
            lab.bin().display(),
            me.display()
        ))
        .output()?;
    anyhow::ensure!(out.status.success(), "copy of admin-bench failed");

    println!("== import of {n} users (hashed passwords)");
    let t = Instant::now();
    let out = lab.exec("node1", &["pigeonctl", "import", "/root/users.csv"]);
    let import = t.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = Instant::now();
    let out = lab.exec(
        "node1",
        &[
            "ldapadd",
            "-Q",
            "-Y",
            "EXTERNAL",
            "-H",
            "ldapi:///",
            "-f",
            "/root/users.ldif",
        ],
    );
    let raw = t.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "ldapadd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "pigeonctl import   {:.1} s ({:.0} users/s)",
        import.as_secs_f64(),
        n as f64 / import.as_secs_f64()
    );
    println!(
        "ldapadd (raw LDIF) {:.1} s ({:.0} users/s)",
        raw.as_secs_f64(),
        n as f64 / raw.as_secs_f64()
    );
    println!(
        "speed ratio import/ldapadd {:.2}",
        raw.as_secs_f64() / import.as_secs_f64()
    );

    println!(
        "== lookup latency, {} samples each, inside the node",
        args.samples
    );
    for (label, setup) in [
        ("auth cache on (as installed)", None),
        (
            "auth cache off (Dovecot's default), same node",
            Some(
                "sed -i 's/^auth_cache_size = .*/auth_cache_size = 0/' /etc/dovecot/dovecot.conf && doveadm reload",
            ),
        ),
    ] {
        if let Some(cmd) = setup {
            let out = lab.exec("node1", &["sh", "-c", cmd]);
            anyhow::ensure!(
                out.status.success(),
                "{cmd}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_secs(1));
        }
        println!("-- {label}");
        let out = lab.exec(
            "node1",
            &[
                "admin-bench",
                "probe",
                "--users",
                &n.to_string(),
                "--samples",
                &args.samples.to_string(),
            ],
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
        anyhow::ensure!(
            out.status.success(),
            "probe failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    lab.ok(&["down"]);
    Ok(())
}
