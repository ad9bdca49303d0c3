//! pigeonaird: watches the node's directory and flushes Dovecot's auth cache whenever the
//! directory changes, carries out the moves of this node's mailboxes, and serves the control
//! plane on the private address (see the crate's documentation). Logs to the journal.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use log::{error, info, warn};
use pigeonair_appliance::directory::{BASE_DN, LDAPI_URL};
use pigeonair_control::watch::{Pending, cookie};
use pigeonair_directory::{Connection, Credentials, Scope, SyncMessage, values};

#[derive(Parser)]
#[command(
    name = "pigeonaird",
    version,
    about = "PigeonAir's control plane on a node"
)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon (systemd starts it as pigeonaird.service).
    Run,
}

/// Mailbox moves this node carries out at once.
const MOVES_IN_PARALLEL: usize = 2;

fn main() -> anyhow::Result<()> {
    pigeonair_docs::write_if_asked(Args::command);
    let args = Args::parse();
    pigeonair_host::init_daemon_logging("pigeonaird");
    match args.command {
        Cmd::Run => run(),
    }
}

fn run() -> anyhow::Result<()> {
    info!("pigeonaird started: watching the directory (RFC 4533 persistent search over ldapi)");
    std::thread::spawn(pigeonair_control::server::run_forever);
    std::thread::spawn(|| {
        // The node's name comes from its installed answers; a fresh box waits for its install.
        let me = loop {
            match pigeonair_control::server::listen_address() {
                Ok((_, host)) => break host,
                Err(_) => std::thread::sleep(Duration::from_secs(5)),
            }
        };
        let watcher = me.clone();
        std::thread::spawn(move || pigeonair_control::peers::run_forever(watcher));
        pigeonair_control::moves::run_forever(me, MOVES_IN_PARALLEL);
    });
    let pending = Arc::new((Mutex::new(Pending::new()), Condvar::new()));
    let flusher = pending.clone();
    std::thread::spawn(move || flush_loop(&flusher));
    let ask = |reason: &str| {
        let (lock, wake) = &*pending;
        lock.lock().expect("not poisoned").ask();
        wake.notify_one();
        log::debug!("flush asked: {reason}");
    };
    // Problems are logged when they start and when they end, not once a retry.
    let mut unreachable: Option<String> = None;
    loop {
        let outcome = watch(&mut |event| {
            if unreachable.take().is_some() {
                info!("directory reachable again");
            }
            ask(event);
        });
        let e = match outcome {
            Ok(()) => "the persistent search ended".to_string(),
            Err(e) => e,
        };
        if unreachable.as_deref() != Some(e.as_str()) {
            warn!("directory watch stopped ({e}); retrying every second");
            unreachable = Some(e);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Connects, reads the directory's state and follows its changes until the connection ends.
/// `changed` is called once at the start (anything cached before may be stale) and then for
/// every change slapd sends.
fn watch(changed: &mut dyn FnMut(&str)) -> Result<(), String> {
    let mut conn =
        Connection::open(LDAPI_URL, Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    conn.bind(&Credentials::LocalRoot)
        .map_err(|e| e.to_string())?;
    // The suffix missing (slapd not seeded yet) is an error like any other: the watch is
    // retried, and nothing is flushed until it starts.
    let suffix = conn
        .search(BASE_DN, Scope::Base, "(objectClass=*)", &["contextCSN"])
        .map_err(|e| {
            e.described_as(format!("read contextCSN of {BASE_DN}"))
                .to_string()
        })?
        .pop()
        .ok_or_else(|| format!("read contextCSN of {BASE_DN}: no such entry"))?;
    let csns = values(&suffix, "contextCSN");
    changed("watch (re)started");
    let mut changes = conn
        .persistent_search(BASE_DN, (!csns.is_empty()).then(|| cookie(csns)))
        .map_err(|e| e.to_string())?;
    // Every entry slapd sends is a change after the cookie; intermediate messages (syncInfo:
    // refresh done, new cookie) are not.
    while let Some(message) = changes.next_message().map_err(|e| e.to_string())? {
        if message == SyncMessage::Entry {
            changed("an entry changed");
        }
    }
    let result = changes.finish();
    Err(format!(
        "persistent search ended: {} {}",
        result.rc, result.text
    ))
}

/// Runs flushes as they are asked for, one at a time; a failed one is retried after a second.
fn flush_loop(pending: &(Mutex<Pending>, Condvar)) {
    let (lock, wake) = pending;
    let mut failing: Option<String> = None;
    loop {
        let covers = {
            let mut p = lock.lock().expect("not poisoned");
            loop {
                if let Some(c) = p.take() {
                    break c;
                }
                p = wake.wait(p).expect("not poisoned");
            }
        };
        let outcome = pigeonair_control::moves::flush_auth_cache(None).and_then(|what| {
            let wrote = pigeonair_control::reconcile::reconcile()?;
            Ok((what, wrote))
        });
        match outcome {
            Ok((what, wrote)) => {
                info!("directory changed: Dovecot's auth cache flushed ({what})");
                for path in wrote {
                    info!("directory changed: wrote {path} from ou=nodes");
                }
                failing = None;
                lock.lock().expect("not poisoned").done(covers);
            }
            Err(e) => {
                if failing.as_deref() != Some(e.as_str()) {
                    error!("following a directory change: {e}; retrying every second");
                    failing = Some(e);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}
