//! The unattended install from the medium: answers found on a drive labelled `PIGEONAIR`
//! (`answers.toml` at its top), else embedded in the medium, else at the URL on the kernel
//! command line (`pigeonair.answers=`; [`super::source`] says which comes first), checked as a
//! whole — the answers file's own validator, `[disk]`
//! against this machine's disks, the interfaces it names against this machine's — before
//! anything is written; then the install to disk and a reboot into it. A failure stops with
//! the reason on the console and waits: never a reboot loop.

use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pigeonair_appliance::answers::{Problem, RawAnswers, parse_raw};
use pigeonair_appliance::disk::{DiskPlan, EMBEDDED_ANSWERS, validate_disk};

use super::install::{self, describe};
use super::probe::{self, LIVE_MEDIUM};
use super::source::{self, AnswersSource, AnswersUrl};
use super::{fetch, network};

/// The file system label of the drive holding the answers.
pub const ANSWERS_LABEL: &str = "PIGEONAIR";
/// The answers file's name at the top of that drive.
pub const ANSWERS_FILE: &str = "answers.toml";
const ANSWERS_MOUNT: &str = "/run/pigeonair/answers-drive";

/// Where progress goes: standard output (the unit's console) and every mirror (`/dev/tty1`).
pub struct Console {
    mirrors: Vec<fs::File>,
}

impl Console {
    /// Standard output, and the terminals in `mirrors` that can be opened.
    pub fn new(mirrors: &[PathBuf]) -> Console {
        Console {
            mirrors: mirrors
                .iter()
                .filter_map(|p| fs::OpenOptions::new().write(true).open(p).ok())
                .collect(),
        }
    }

    /// Prints `line` everywhere and logs it to the journal.
    pub fn say(&mut self, line: &str) {
        println!("{line}");
        let _ = std::io::stdout().flush();
        for m in &mut self.mirrors {
            let _ = write!(m, "{line}\r\n");
        }
        log::info!("{line}");
    }
}

/// The interfaces the answers name that this machine lacks, each as a problem naming its field
/// and the interfaces there are.
pub fn missing_interfaces(raw: &RawAnswers, present: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (field, iface) in [
        ("network.public.interface", &raw.network.public.interface),
        ("network.private.interface", &raw.network.private.interface),
    ] {
        if let Some(name) = iface.as_deref()
            && !present.iter().any(|p| p == name)
        {
            problems.push(Problem {
                field: field.to_owned(),
                message: format!(
                    "{name:?}: no such interface here (interfaces here: {})",
                    present.join(", ")
                ),
            });
        }
    }
    problems
}

/// This machine's network interfaces, loopback left out.
fn interfaces() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "lo")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The device of the drive labelled `PIGEONAIR`, waiting up to `wait` for it to show up.
fn answers_drive(wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(out) = pigeonair_host::run(Command::new("blkid").args(["-L", ANSWERS_LABEL])) {
            let dev = out.trim().to_owned();
            if !dev.is_empty() {
                return Some(dev);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Reads `answers.toml` from `device` (mounted read-only, unmounted again).
fn read_answers(device: &str) -> Result<String, String> {
    fs::create_dir_all(ANSWERS_MOUNT).map_err(|e| format!("creating {ANSWERS_MOUNT}: {e}"))?;
    pigeonair_host::run(Command::new("mount").args(["-o", "ro", device, ANSWERS_MOUNT]))
        .map_err(|e| format!("mounting {device}: {e}"))?;
    let path = Path::new(ANSWERS_MOUNT).join(ANSWERS_FILE);
    let text = fs::read_to_string(&path);
    let _ = pigeonair_host::run(Command::new("umount").arg(ANSWERS_MOUNT));
    text.map_err(|e| {
        format!(
            "{device} (labelled {ANSWERS_LABEL}) has no readable {ANSWERS_FILE} at its top: {e}"
        )
    })
}

/// The answers' text from `source` (a URL's once the network is up).
fn read_source(source: &AnswersSource, console: &mut Console) -> Result<String, String> {
    match source {
        AnswersSource::Drive(device) => read_answers(device),
        AnswersSource::Embedded(path) => fs::read_to_string(path)
            .map_err(|e| format!("reading the embedded answers {}: {e}", path.display())),
        AnswersSource::Url(url) => {
            let mut say = |line: &str| console.say(line);
            network::bring_up(&mut say)
                .map_err(|e| format!("bringing up the network to fetch {url}: {e}"))?;
            let started = Instant::now();
            let text = fetch::fetch(url).map_err(|e| format!("fetching the answers: {e}"))?;
            console.say(&format!(
                "fetched {url} ({} bytes) in {:.1} s",
                text.len(),
                started.elapsed().as_secs_f64()
            ));
            Ok(text)
        }
    }
}

/// `pigeonair.answers=` on this boot's kernel command line: `None` without it.
fn cmdline_url() -> Option<Result<AnswersUrl, String>> {
    let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
    source::cmdline_answers_url(&cmdline)
}

/// Everything checked before the first write: the answers, `[disk]`, the interfaces.
fn check(text: &str) -> Result<DiskPlan, Vec<String>> {
    if let Err(e) = crate::join::parse(text) {
        return Err(e.to_string().lines().map(str::to_owned).collect());
    }
    let raw = parse_raw(text).map_err(|e| vec![e.to_string()])?;
    let disks = probe::discover().map_err(|e| vec![e])?;
    let mut problems = missing_interfaces(&raw, &interfaces());
    let plan = validate_disk(raw.disk.as_ref(), &disks);
    match plan {
        Ok(plan) if problems.is_empty() => Ok(plan),
        Ok(_) => Err(problems.iter().map(Problem::to_string).collect()),
        Err(mut disk) => {
            disk.append(&mut problems);
            Err(disk.iter().map(Problem::to_string).collect())
        }
    }
}

/// What an unattended run ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// No answers anywhere: the interactive installer is for this machine.
    NoAnswers,
    /// Installed; the reboot was asked for.
    Rebooting,
    /// Stopped with the reason on the console, then Enter was pressed.
    Stopped,
}

/// The unattended install, if there are answers: on a drive labelled `PIGEONAIR`, else
/// embedded in the medium, else at the URL on the kernel command line.
pub fn run(console: &mut Console) -> Ended {
    let drive = answers_drive(Duration::from_secs(5));
    let embedded = Path::new(LIVE_MEDIUM).join(EMBEDDED_ANSWERS);
    let embedded = embedded.is_file().then_some(embedded);
    let url = match cmdline_url() {
        // A URL that is not one stops only if it is the source that would be used.
        Some(Err(e)) if drive.is_none() && embedded.is_none() => {
            return stop(console, "the kernel command line", &[e], false);
        }
        Some(Ok(url)) => Some(url),
        _ => None,
    };
    let Some(source) = source::choose(drive, embedded, url) else {
        console.say(&format!(
            "pigeonair-install: no answers (no drive labelled {ANSWERS_LABEL}, none embedded in \
             the medium, no {} on the kernel command line): the interactive installer starts",
            source::CMDLINE_KEY
        ));
        return Ended::NoAnswers;
    };
    let started = Instant::now();
    console.say(&format!(
        "pigeonair-install: unattended install with {source}"
    ));
    let fix = source.where_to_fix();
    let text = match read_source(&source, console) {
        Ok(t) => t,
        Err(e) => return stop(console, &fix, &[e], false),
    };
    console.say(&format!(
        "network interfaces here: {}",
        interfaces().join(", ")
    ));
    let plan = match check(&text) {
        Ok(plan) => plan,
        Err(problems) => return stop(console, &fix, &problems, false),
    };
    console.say(&format!("erasing {}", describe(&plan)));
    let mut say = |event: &pigeonair_apply::Event| console.say(&event.to_string());
    if let Err(e) = install::install(&plan, &text, Path::new(LIVE_MEDIUM), &mut say) {
        return stop(console, &fix, &[e.to_string()], true);
    }
    console.say(&format!(
        "pigeonair-install: installed to {} in {:.0} s; rebooting into it (remove the install \
         medium, or boot from the disk); the first boot applies the answers",
        plan.device,
        started.elapsed().as_secs_f64()
    ));
    if let Err(e) = install::reboot() {
        console.say(&format!("pigeonair-install: {e}"));
    }
    Ended::Rebooting
}

/// Prints why the install stopped and waits for Enter (for ever when there is no keyboard):
/// the reason stays on the screen and nothing reboots.
/// `fix` names what to fix (the answers' source).
fn stop(console: &mut Console, fix: &str, problems: &[String], written: bool) -> Ended {
    console.say("pigeonair-install: the unattended install stopped:");
    for p in problems {
        console.say(&format!("  {p}"));
    }
    if written {
        console.say("The disk named in [disk] is partly written; nothing was rebooted.");
    } else {
        console.say("Nothing was written to any disk.");
    }
    console.say(&format!(
        "Fix the answers ({fix}) or the cause above and boot the medium again; Enter opens the \
         interactive installer."
    ));
    log::error!("unattended install stopped: {}", problems.join("; "));
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => Ended::Stopped,
        _ => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_the_machine_lacks_are_named() {
        let raw = parse_raw(
            "[network.public]\ninterface = \"ens3\"\n[network.private]\ninterface = \"eth1\"\n",
        )
        .unwrap();
        let here = vec!["ens3".to_owned(), "ens4".to_owned()];
        let problems = missing_interfaces(&raw, &here);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "network.private.interface: \"eth1\": no such interface here (interfaces here: ens3, ens4)"
        );
    }
}
