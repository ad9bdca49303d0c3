//! A program on a terminal, driven by keystrokes: a detached tmux session of its own, read back
//! with `capture-pane`. For the interactive installer and the console, as staff see them.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One tmux session running one command; killed when dropped, even when a test fails.
pub struct Tmux {
    session: String,
}

fn tmux(args: &[&str]) -> Output {
    Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux runs (scripts/host-setup installs it)")
}

/// Whether tmux is here; a missing tmux fails in CI and skips elsewhere (with a line saying so).
pub fn available(test: &str) -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tmux is missing: run scripts/host-setup"
    );
    eprintln!("SKIPPED {test}: tmux is missing");
    false
}

impl Tmux {
    /// Starts `command` (a shell command line) on a `width`×`height` terminal in session
    /// `session` (one of that name left by an earlier run is killed first).
    pub fn start(session: &str, width: u16, height: u16, command: &str) -> Tmux {
        let _ = tmux(&["kill-session", "-t", session]);
        let (w, h) = (width.to_string(), height.to_string());
        let out = tmux(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            &w,
            "-y",
            &h,
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmux {
            session: session.to_owned(),
        }
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &self.session]).stdout)
            .into_owned()
    }

    /// Waits until the screen shows `needle`; the screen then.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> String {
        self.wait_until(needle, limit, |s| s.contains(needle))
    }

    /// Waits until `ok` holds for the screen (`what` names it in the failure); the screen then.
    pub fn wait_until(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what:?} never appeared on {}; the screen:\n{s}",
                self.session
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses keys by tmux's names (`Enter`, `Tab`, `Down`, `Escape`, `BSpace`, `y`, …).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.session.as_str()];
        args.extend(keys);
        assert!(tmux(&args).status.success());
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Types `text` literally.
    pub fn typed(&self, text: &str) {
        assert!(
            tmux(&["send-keys", "-t", &self.session, "-l", text])
                .status
                .success()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = tmux(&["kill-session", "-t", &self.session]);
    }
}
