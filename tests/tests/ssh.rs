//! Root's SSH access on installed lab nodes: off unless the answers give a key, then by that
//! key only (no password is ever accepted), with host keys made on each node.

use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout};

/// A key pair made on the host for the test, removed however it ends.
struct KeyPair(std::path::PathBuf);

impl KeyPair {
    fn new() -> KeyPair {
        let dir = std::env::temp_dir().join(format!("pigeonair-ssh-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key");
        let out = std::process::Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "ops@isp.example",
                "-f",
            ])
            .arg(&key)
            .output()
            .expect("ssh-keygen runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        KeyPair(dir)
    }

    fn private(&self) -> String {
        self.0.join("key").to_string_lossy().into_owned()
    }

    fn public(&self) -> String {
        std::fs::read_to_string(self.0.join("key.pub"))
            .unwrap()
            .trim()
            .to_owned()
    }
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn example() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../appliance/core/examples/single-box.toml"
    ))
    .unwrap()
}

fn with_key(answers: &str, key: &str) -> String {
    format!("{answers}\n[ssh]\nauthorized_keys = [\"{key}\"]\n")
}

fn install(lab: &LabCli, node: &str, answers: &str) -> std::process::Output {
    lab.exec_with_input(node, "pigeonair-install --answers -", answers)
}

/// `ssh ARGS root@ADDRESS CMD` from the client, never asking anything.
fn ssh(lab: &LabCli, address: &str, args: &[&str], cmd: &str) -> std::process::Output {
    let target = format!("root@{address}");
    let mut v = vec![
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=5",
    ];
    v.extend(args);
    v.extend([target.as_str(), cmd]);
    lab.client(&v)
}

fn port_22_open(lab: &LabCli, address: &str) -> bool {
    lab.client(&["nc", "-z", "-w", "3", address, "22"])
        .status
        .success()
}

fn host_key(lab: &LabCli, node: &str) -> String {
    stdout(&lab.exec(
        node,
        &[
            "ssh-keygen",
            "-l",
            "-f",
            "/etc/ssh/ssh_host_ed25519_key.pub",
        ],
    ))
}

#[test]
fn ssh_is_off_without_a_key_and_takes_root_by_key_only_with_one() {
    if !lab_host_ready("ssh") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-ssh");
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "2"]);
    let keys = KeyPair::new();
    let by_key = ["-o", "IdentitiesOnly=yes", "-i"];

    // A bad key line is refused before anything is written.
    let out = install(&lab, "node1", &with_key(&example(), "ssh-ed25519 AAAA-cut"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ssh.authorized_keys[0]"), "{err}");
    assert!(
        !lab.exec("node1", &["test", "-e", "/etc/pigeonair/answers.toml"])
            .status
            .success(),
        "a refused install wrote its answers"
    );

    // No [ssh]: sshd is off, and the image brought no host keys.
    let out = install(&lab, "node1", &example());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !port_22_open(&lab, "203.0.113.11"),
        "sshd answers without a key"
    );
    assert!(
        !lab.exec("node1", &["sh", "-c", "ls /etc/ssh/ssh_host_*"])
            .status
            .success(),
        "host keys shipped in the image"
    );

    // The answers give a key: root logs in with it, and only with it.
    let out = install(&lab, "node1", &with_key(&example(), &keys.public()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = stdout(&out);
    assert!(said.contains("started ssh.service"), "{said}");
    let private = keys.private();
    let mut args = by_key.to_vec();
    args.push(&private);
    let out = ssh(&lab, "203.0.113.11", &args, "hostname -f");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).trim(), "mx1.example.com");
    let out = ssh(
        &lab,
        "203.0.113.11",
        &[
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ],
        "true",
    );
    assert!(!out.status.success(), "a login without the key succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Permission denied (publickey)"),
        "sshd offers more than keys: {err}"
    );
    // Run again, nothing changes.
    let out = install(&lab, "node1", &with_key(&example(), &keys.public()));
    assert!(out.status.success());
    assert!(!stdout(&out).contains("ssh.service"), "{}", stdout(&out));

    // A node that joins gives its own key and gets its own host keys.
    let token = lab.ok(&["exec", "node1", "--", "pigeonctl", "node", "token"]);
    let join = format!(
        "[cluster]\njoin = \"{}\"\n\n[node]\nhostname = \"mx2.example.com\"\n\n[network]\ndns = []\n\n\
         [network.public]\ninterface = \"eth0\"\naddress = \"203.0.113.12/24\"\ngateway = \"203.0.113.1\"\n\n\
         [network.private]\ninterface = \"eth1\"\naddress = \"10.42.0.12/24\"\n",
        token.trim()
    );
    let out = install(&lab, "node2", &with_key(&join, &keys.public()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ssh(&lab, "203.0.113.12", &args, "hostname -f");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).trim(), "mx2.example.com");
    let (k1, k2) = (host_key(&lab, "node1"), host_key(&lab, "node2"));
    assert!(k1.contains("ED25519") && k2.contains("ED25519"), "{k1}{k2}");
    assert_ne!(k1, k2, "two nodes share a host key");

    // The key taken out of the answers: sshd stops and stays off at boot.
    let out = install(&lab, "node1", &example());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("stopped and disabled ssh.service"));
    assert!(!port_22_open(&lab, "203.0.113.11"), "sshd still answers");
    assert!(
        !lab.exec(
            "node1",
            &["systemctl", "is-enabled", "--quiet", "ssh.service"]
        )
        .status
        .success()
    );
}
