//! The keepalived process of a balancer pair: the IO shell around [`super::keepalived_conf`].
//! pigeonair-balancer runs it as its child (`--vrrp --dont-fork`), writes its config into the
//! state directory, reloads it (SIGHUP) when the config changes, starts it again if it dies,
//! and stops it (SIGTERM: keepalived drops the VIP, so the peer takes over at once) when the
//! daemon stops or the pair is removed from balancer.toml. A keepalived left by a daemon that
//! was killed is found by its pid file and stopped before a new one starts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use log::{info, warn};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// keepalived, run by the balancer.
pub struct Keepalived {
    dir: PathBuf,
    child: Option<Child>,
    text: String,
    /// When it was last started, so a keepalived that dies at once is not restarted in a loop
    /// faster than once a second.
    started: Option<Instant>,
}

impl Keepalived {
    /// keepalived with its config and pid files in `dir` (the balancer's state directory).
    pub fn new(dir: &Path) -> Keepalived {
        Keepalived {
            dir: dir.to_path_buf(),
            child: None,
            text: String::new(),
            started: None,
        }
    }

    /// The config file it reads.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("keepalived.conf")
    }

    fn pid_path(&self) -> PathBuf {
        self.dir.join("keepalived.pid")
    }

    fn vrrp_pid_path(&self) -> PathBuf {
        self.dir.join("keepalived-vrrp.pid")
    }

    /// Its process id while it runs.
    pub fn pid(&mut self) -> Option<u32> {
        self.reap();
        self.child.as_ref().map(Child::id)
    }

    /// Forgets a child that has exited, saying how it ended.
    fn reap(&mut self) {
        if let Some(c) = self.child.as_mut() {
            match c.try_wait() {
                Ok(Some(status)) => {
                    warn!("keepalived exited ({status}); starting it again");
                    self.child = None;
                }
                Ok(None) => {}
                Err(e) => {
                    warn!("keepalived: {e}");
                    self.child = None;
                }
            }
        }
    }

    /// Runs keepalived with config `text`: starts it if it is not running, reloads it if the
    /// text changed. Returns what it did, for the journal.
    pub fn ensure(&mut self, text: &str) -> Result<Option<String>, String> {
        self.reap();
        let conf = self.conf_path();
        if text != self.text {
            fs::create_dir_all(&self.dir)
                .and_then(|()| fs::write(&conf, text))
                .map_err(|e| format!("writing {}: {e}", conf.display()))?;
        }
        if let Some(child) = &self.child {
            if text == self.text {
                return Ok(None);
            }
            self.text = text.to_string();
            let pid = Pid::from_raw(child.id() as i32);
            kill(pid, Signal::SIGHUP).map_err(|e| format!("reloading keepalived: {e}"))?;
            return Ok(Some(format!("keepalived reloaded {}", conf.display())));
        }
        if self
            .started
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return Ok(None);
        }
        self.stop_leftover();
        let tool = pigeonair_host::find_tool("keepalived").ok_or_else(|| {
            "keepalived is missing: install the Debian package keepalived ([ipvs.pair] needs it)"
                .to_string()
        })?;
        let child = Command::new(tool)
            .args([
                "--vrrp",
                "--dont-fork",
                "--log-console",
                "--log-detail",
                "--no-syslog",
            ])
            .arg("--use-file")
            .arg(&conf)
            .arg("--pid")
            .arg(self.pid_path())
            .arg("--vrrp_pid")
            .arg(self.vrrp_pid_path())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting keepalived: {e}"))?;
        let pid = child.id();
        self.child = Some(child);
        self.started = Some(Instant::now());
        self.text = text.to_string();
        Ok(Some(format!(
            "keepalived started (pid {pid}) with {}",
            conf.display()
        )))
    }

    /// A keepalived still running from a balancer that was killed: its pid file names it, and
    /// its command line names our config. Stopped, so two never run VRRP for one box.
    fn stop_leftover(&self) {
        let Ok(text) = fs::read_to_string(self.pid_path()) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<i32>() else {
            return;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let conf = self.conf_path();
        let ours = String::from_utf8_lossy(&cmdline).contains(&*conf.to_string_lossy());
        if !ours {
            return;
        }
        warn!("stopping keepalived {pid} left by an earlier pigeonair-balancer");
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops keepalived (SIGTERM, then SIGKILL after 5 s); it drops the VIP as it goes.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        self.text.clear();
        info!("keepalived stopped; the VIP is the peer's now");
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.stop();
    }
}
