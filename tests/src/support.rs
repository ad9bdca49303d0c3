//! Helpers for tests and benchmarks that drive the real `pigeonair-lab` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use pigeonair_host as host;

use pigeonair_lab::LAB_TOOLS;

/// Checks that this machine can run labs (root, host tools). When it cannot: in CI (`CI` set)
/// this panics, so a missing tool fails the run; elsewhere it prints why and returns false, and
/// the caller skips.
pub fn lab_host_ready(test: &str) -> bool {
    let problem = host::require_root("the lab tests")
        .and_then(|()| host::require_tools(LAB_TOOLS))
        .err();
    match problem {
        None => true,
        Some(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: cannot run in CI: {e}")
        }
        Some(e) => {
            eprintln!("SKIPPED {test}: {e}");
            false
        }
    }
}

/// The `pigeonair-lab` binary of this workspace, in the running test's profile directory
/// (`target/release/pigeonair-lab` under `cargo test --release`), built first.
///
/// Cargo builds for a test, and names to it (`CARGO_BIN_EXE_*`), only its own package's
/// binaries; this one may live in any package of the workspace. The first call runs
/// `cargo build --workspace --bin pigeonair-lab` with the test's profile and target directory,
/// so the binary is never stale; the whole workspace is selected, as `scripts/build` does, so
/// shared dependencies keep the features they were built with. Up to date, that build takes
/// well under a second.
pub fn lab_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("pigeonair-lab"))
}

/// Builds the workspace binary `name` for the running test's profile and returns its path.
fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/PROFILE/deps/TEST-HASH: the binary goes in target/PROFILE.
    let profile_dir = exe
        .parent()
        .filter(|d| d.ends_with("deps"))
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{}: not under target/PROFILE/deps", exe.display()));
    let target_dir = profile_dir.parent().expect("target/PROFILE has a parent");
    let profile = match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("{}: no profile directory", exe.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(&cargo)
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--bin",
            name,
            "--profile",
            profile,
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&cargo).display()));
    assert!(
        out.status.success(),
        "building {name} (cargo build --workspace --bin {name} --profile {profile}) failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = profile_dir.join(name);
    assert!(
        bin.is_file(),
        "cargo built {name} but {} is missing",
        bin.display()
    );
    bin
}

/// A lab driven through the `pigeonair-lab` binary. Dropping it takes the lab down, so a
/// failing test leaves nothing running.
pub struct LabCli {
    bin: PathBuf,
    name: String,
}

impl LabCli {
    /// `ldapsearch` on `node`'s own directory as root over ldapi (LDIF, lines unwrapped):
    /// what it printed; a failed search fails the test.
    pub fn ldapsearch(&self, node: &str, base: &str, filter: &str, attrs: &[&str]) -> String {
        self.try_ldapsearch(node, base, filter, attrs)
            .unwrap_or_else(|e| panic!("ldapsearch on {node}: {e}"))
    }

    /// [`LabCli::ldapsearch`], with a failed search (slapd restarting, say, while a wait
    /// polls) as its error text.
    pub fn try_ldapsearch(
        &self,
        node: &str,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<String, String> {
        let mut cmd = vec![
            "ldapsearch",
            "-Q",
            "-Y",
            "EXTERNAL",
            "-H",
            "ldapi:///",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-b",
            base,
            filter,
        ];
        cmd.extend(attrs);
        let out = self.exec(node, &cmd);
        if out.status.success() {
            Ok(stdout(&out))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `up --nodes N` with the example answers turned to a DNS-balanced cluster
    /// (`[cluster] balancer = "dns"`), as an operator installs one; `dig` must be there.
    pub fn up_dns_balanced(&self, nodes: usize) {
        assert!(
            pigeonair_host::find_tool("dig").is_some(),
            "dig is missing: install bind9-dnsutils (scripts/host-setup does)"
        );
        let answers = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../appliance/core/examples/single-box.toml"
        ))
        .expect("the example answers")
        .replace("balancer = \"none\"", "balancer = \"dns\"");
        let file = std::env::temp_dir().join(format!("{}-{}.toml", self.name, std::process::id()));
        std::fs::write(&file, &answers).expect("write the answers");
        let nodes = nodes.to_string();
        let up = self.run(&["up", "--nodes", &nodes, "--answers", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        assert!(
            up.status.success(),
            "pigeonair-lab --name {} up --nodes {nodes} (DNS-balanced) failed ({}):\n{}{}",
            self.name,
            up.status,
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        );
    }

    /// The lab `name`, driven by the binary at `bin`.
    pub fn new(bin: impl Into<PathBuf>, name: &str) -> Self {
        LabCli {
            bin: bin.into(),
            name: name.to_owned(),
        }
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs `pigeonair-lab --name NAME ARGS…` and returns what it did.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--name")
            .arg(&self.name)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()))
    }

    /// Runs `ARGS…` and panics, showing its output, unless it succeeded.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pigeonair-lab --name {} {} failed ({}):\n{}{}",
            self.name,
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `CMD…` inside `node` and returns its output.
    pub fn exec(&self, node: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", node, "--"];
        args.extend(cmd);
        self.run(&args)
    }

    /// Runs the shell command `cmd` inside `node` with `input` on its standard input.
    pub fn exec_with_input(&self, node: &str, cmd: &str, input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(&self.bin)
            .args(["--name", &self.name, "exec", node, "--", "sh", "-c", cmd])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input.as_bytes())
            .expect("write to exec");
        child.wait_with_output().expect("wait for exec")
    }

    /// Runs `CMD…` at the client address and returns its output.
    pub fn client(&self, cmd: &[&str]) -> Output {
        let mut args = vec!["client", "--"];
        args.extend(cmd);
        self.run(&args)
    }
}

impl Drop for LabCli {
    fn drop(&mut self) {
        let out = self.run(&["down"]);
        if !out.status.success() {
            eprintln!(
                "taking lab {} down failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Text of a process's standard output.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `ok` holds, checking every 50 ms, and returns how long it took; panics naming
/// `what` after `limit` (a bound for a loaded machine: the measured time is what to report).
pub fn wait_until(
    what: &str,
    limit: std::time::Duration,
    mut ok: impl FnMut() -> bool,
) -> std::time::Duration {
    let t = std::time::Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < limit,
            "{what}: not within {} s",
            limit.as_secs()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    t.elapsed()
}

/// For a test whose load threads share its lab: when the test ends, passing or failing, the
/// threads are told to stop and the lab is taken down. (Threads still holding the lab would
/// keep its own [`LabCli`] from being dropped, and the test process exits without waiting for
/// them: the lab would be left running.)
pub struct LoadGuard {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _lab: LabCli,
}

impl LoadGuard {
    /// Guards the load stopped by `stop` on `lab`.
    pub fn new(stop: &std::sync::Arc<std::sync::atomic::AtomicBool>, lab: &LabCli) -> Self {
        LoadGuard {
            stop: stop.clone(),
            _lab: LabCli::new(lab.bin(), lab.name()),
        }
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        // The field `_lab` is dropped after this: it takes the lab down.
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Where `scripts/build` leaves PigeonAir's Debian packages.
pub fn debs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian")
}

/// Whether this host can build the install medium and boot it in qemu: root, the ISO tools,
/// qemu (and OVMF), `extra` tools (name or path, Debian package), our packages. When something
/// is missing: in CI (`CI` set) the test fails; elsewhere it prints why and skips.
pub fn medium_host_ready(test: &str, extra: &[(&str, &str)]) -> bool {
    let mut problems = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        problems.push("needs root".to_owned());
    }
    if let Err(e) = pigeonair_image::iso::require_iso_tools() {
        problems.push(e.to_string());
    }
    for (tool, package) in pigeonair_lab::medium::MEDIUM_TOOLS
        .iter()
        .chain(extra.iter())
        .copied()
    {
        let found = if tool.starts_with('/') {
            Path::new(tool).exists()
        } else {
            pigeonair_host::find_tool(tool).is_some()
        };
        if !found {
            problems.push(format!("missing {tool} (Debian package {package})"));
        }
    }
    match pigeonair_image::Debs::scan(&debs_dir()) {
        Ok(d) if !d.files.is_empty() => {}
        _ => problems.push(format!(
            "no PigeonAir .deb in {}: run scripts/build",
            debs_dir().display()
        )),
    }
    if problems.is_empty() {
        return true;
    }
    let why = problems.join("; ");
    if std::env::var_os("CI").is_some() {
        panic!("{test}: cannot run in CI: {why}; scripts/host-setup installs the tools");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
}

/// Builds the install medium (`pigeonair-image iso`) at `output` from `target/debian`, with
/// the image store of the environment; what the build printed. A failed build fails the test.
pub fn build_medium(output: &Path) -> String {
    build_medium_with_answers(output, None)
}

/// [`build_medium`] with `answers` embedded (`pigeonair-image iso --answers`); answers the
/// build refuses fail the test.
pub fn build_medium_with_answers(output: &Path, answers: Option<&str>) -> String {
    use pigeonair_image::{
        Debs, EmbeddedAnswers, ImageSpec, ImageStore, IsoOptions, LiveSpec, Mirror, build_iso,
    };
    let answers = answers.map(|text| {
        EmbeddedAnswers::try_new(text).unwrap_or_else(|e| panic!("answers refused: {e}"))
    });
    let mut log = Vec::new();
    let result = build_iso(
        &ImageStore::from_env(),
        &ImageSpec::appliance(),
        &LiveSpec::installer(),
        &Mirror::from_host().expect("a Debian mirror"),
        &Debs::scan(&debs_dir()).expect("target/debian readable"),
        &IsoOptions {
            output: output.to_owned(),
            processors: Some(1),
            answers,
        },
        &mut log,
    );
    let log = String::from_utf8_lossy(&log).into_owned();
    if let Err(e) = result {
        panic!("pigeonair-image iso failed: {e}\n{log}");
    }
    log
}
