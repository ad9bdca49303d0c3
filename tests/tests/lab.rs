//! The lab against the real thing: systemd-nspawn nodes booted from the appliance image, in
//! network namespaces. Needs root and the host tools of `scripts/host-setup`.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout};

/// Names of the links in the root network namespace.
fn root_links() -> BTreeSet<String> {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    stdout(&out)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect()
}

/// Fails the test with a list of everything of lab `name` still on the machine: namespaces,
/// live processes, mounts, cgroups, files, and links in the root namespace that were not
/// there before. Checked with the host's own tools, not the lab's code.
fn assert_nothing_left(name: &str, links_before: &BTreeSet<String>) {
    let marker = format!("pal-{name}-");
    let mut left = Vec::new();
    let netns = stdout(&Command::new("ip").args(["netns", "list"]).output().unwrap());
    left.extend(
        netns
            .lines()
            .filter(|l| l.starts_with(&marker))
            .map(|l| format!("namespace {l}")),
    );
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'));
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !zombie && cmdline.contains(&marker) {
            left.push(format!("process {pid}: {cmdline}"));
        }
    }
    let lab_dir = format!("/var/lib/pigeonair-lab/{name}");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    left.extend(
        mountinfo
            .lines()
            .filter(|l| l.contains(&marker) || l.contains(&lab_dir))
            .map(|l| format!("mount {l}")),
    );
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let cg = hierarchy.path().join("pigeonair-lab").join(name);
        if cg.exists() {
            left.push(format!("cgroup {}", cg.display()));
        }
    }
    if std::path::Path::new(&lab_dir).exists() {
        left.push(format!("directory {lab_dir}"));
    }
    let links_after = root_links();
    left.extend(
        links_after
            .difference(links_before)
            .map(|l| format!("root-namespace link {l}")),
    );
    assert!(
        left.is_empty(),
        "lab {name} left behind:\n{}",
        left.join("\n")
    );
}

/// Retries `f` for up to `limit` (journald and ARP need a moment after boot).
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ping(ok: std::process::Output) -> bool {
    ok.status.success()
}

#[test]
fn three_node_lab_boots_networks_and_leaves_nothing() {
    if !lab_host_ready("three_node_lab") {
        return;
    }
    let links_before = root_links();
    let lab = LabCli::new(lab_bin(), "t-three");
    lab.run(&["down"]);
    let up = lab.ok(&["up", "--bare", "--nodes", "3"]);
    for node in ["node1", "node2", "node3"] {
        assert!(
            up.lines()
                .any(|l| l.starts_with(node) && (l.contains("running") || l.contains("degraded"))),
            "{node} not reported booted:\n{up}"
        );
    }

    // status --json: nodes, both addresses, system state.
    let status: serde_json::Value = serde_json::from_str(&lab.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["up"], true);
    assert_eq!(status["client"], "203.0.113.250");
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let mut leaders = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node["name"], format!("node{}", i + 1));
        assert_eq!(node["public"], format!("203.0.113.{}", 11 + i));
        assert_eq!(node["private"], format!("10.42.0.{}", 11 + i));
        let state = node["system"]["state"].as_str().unwrap();
        assert!(state == "running" || state == "degraded", "{node}");
        leaders.push(node["leader_pid"].as_u64().unwrap());
    }

    for (i, node) in ["node1", "node2", "node3"].iter().enumerate() {
        // systemd is PID 1 in the node and reports the system up.
        let state = stdout(&lab.exec(node, &["systemctl", "is-system-running"]));
        assert!(
            matches!(state.trim(), "running" | "degraded"),
            "{node}: {state}"
        );
        let comm = stdout(&lab.exec(node, &["cat", "/proc/1/comm"]));
        assert_eq!(comm.trim(), "systemd", "{node}");
        // Its hostname is the node's.
        assert_eq!(stdout(&lab.exec(node, &["hostname"])).trim(), *node);
        // journald works: a message logged in the node can be read back from its journal.
        let mark = format!("pigeonair-lab-test-{node}-{}", std::process::id());
        assert!(
            lab.exec(node, &["logger", "-t", "labtest", &mark])
                .status
                .success()
        );
        assert!(
            eventually(Duration::from_secs(5), || {
                stdout(&lab.exec(node, &["journalctl", "-t", "labtest", "-o", "cat", "-q"]))
                    .contains(&mark)
            }),
            "{node}: message not in the journal"
        );
        // Each node is in its own cgroup: nodes never see each other's services.
        let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", leaders[i])).unwrap();
        assert!(
            cgroup.contains(&format!("/pigeonair-lab/t-three/{node}/")),
            "{node} cgroup: {cgroup}"
        );
    }

    // node1 reaches node2 and node3 on both networks.
    for peer in [12, 13] {
        for addr in [format!("10.42.0.{peer}"), format!("203.0.113.{peer}")] {
            assert!(
                eventually(Duration::from_secs(3), || ping(
                    lab.exec("node1", &["ping", "-c1", "-W1", &addr])
                )),
                "node1 cannot reach {addr}"
            );
        }
    }
    // The client reaches every node's public address and no private one.
    for n in 11..=13 {
        let public = format!("203.0.113.{n}");
        assert!(
            eventually(Duration::from_secs(3), || ping(
                lab.client(&["ping", "-c1", "-W1", &public])
            )),
            "client cannot reach {public}"
        );
        let private = format!("10.42.0.{n}");
        let out = lab.client(&["ping", "-c1", "-W1", &private]);
        assert!(!out.status.success(), "client reached private {private}");
    }

    // Bad input on a running lab: an unknown node is one clear line, exit non-zero.
    let out = lab.exec("node4", &["true"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "pigeonair-lab: unknown node node4: lab t-three has node1 … node3"
    );
    // exec passes the command's exit code through.
    assert_eq!(
        lab.exec("node2", &["sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );

    // A second lab runs beside it with the same subnets and is independent of it.
    let links_mid = root_links();
    {
        let side = LabCli::new(lab_bin(), "t-side");
        side.run(&["down"]);
        side.ok(&["up", "--bare", "--nodes", "1"]);
        assert!(ping(side.client(&["ping", "-c1", "-W2", "203.0.113.11"])));
        assert_eq!(stdout(&side.exec("node1", &["hostname"])).trim(), "node1");
        side.ok(&["down"]);
        assert_nothing_left("t-side", &links_mid);
    }
    assert!(ping(
        lab.exec("node1", &["ping", "-c1", "-W1", "10.42.0.12"])
    ));

    // up on a lab that is up says so and changes nothing.
    let again = lab.ok(&["up", "--bare", "--nodes", "3"]);
    assert!(again.contains("already up: nothing changed"), "{again}");
    let status: serde_json::Value = serde_json::from_str(&lab.ok(&["status", "--json"])).unwrap();
    let leaders_after: Vec<u64> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["leader_pid"].as_u64().unwrap())
        .collect();
    assert_eq!(leaders, leaders_after, "nodes were restarted");
    let other = lab.run(&["up", "--bare", "--nodes", "2"]);
    assert!(!other.status.success());

    // down removes everything; twice is fine.
    lab.ok(&["down"]);
    assert_nothing_left("t-three", &links_before);
    let twice = lab.ok(&["down"]);
    assert!(twice.contains("nothing to remove"), "{twice}");
    let status: serde_json::Value = serde_json::from_str(&lab.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["up"], false);
}

#[test]
fn failed_up_leaves_nothing() {
    if !lab_host_ready("failed_up_leaves_nothing") {
        return;
    }
    let links_before = root_links();
    let lab = LabCli::new(lab_bin(), "t-fail");
    lab.run(&["down"]);
    // A boot timeout of 0 s fails after the network is made and the nodes are launched.
    let out = lab.run(&["up", "--bare", "--nodes", "2", "--boot-timeout", "0"]);
    assert!(!out.status.success(), "up with no time to boot succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not boot"), "{err}");
    assert!(err.contains("the lab was taken down again"), "{err}");
    assert_nothing_left("t-fail", &links_before);
}

#[test]
fn bad_input_is_one_clear_line_and_makes_nothing() {
    if !lab_host_ready("bad_input") {
        return;
    }
    let links_before = root_links();
    let lab = LabCli::new(lab_bin(), "t-bad");
    lab.run(&["down"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["up", "--nodes", "0"],
            "pigeonair-lab: --nodes 0: a lab has 1 to 200 nodes",
        ),
        (
            &["up", "--nodes", "201"],
            "pigeonair-lab: --nodes 201: a lab has 1 to 200 nodes",
        ),
        (
            &["exec", "node1", "--", "true"],
            "pigeonair-lab: lab t-bad is not up: start it with `pigeonair-lab up --name t-bad`",
        ),
        (
            &["client", "--", "true"],
            "pigeonair-lab: lab t-bad is not up: start it with `pigeonair-lab up --name t-bad`",
        ),
    ];
    for (args, expected) in cases {
        let out = lab.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(expected), "{args:?}: {err}");
    }
    // A bad lab name is refused before anything is made.
    let out = Command::new(lab.bin())
        .args(["--name", "Bad_Name", "up"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lab name \"Bad_Name\""));
    assert_nothing_left("t-bad", &links_before);
}

#[test]
fn interrupted_up_leaves_nothing() {
    if !lab_host_ready("interrupted_up_leaves_nothing") {
        return;
    }
    let links_before = root_links();
    let lab = LabCli::new(lab_bin(), "t-int");
    lab.run(&["down"]);
    let up = Command::new(lab.bin())
        .args(["--name", "t-int", "up", "--bare", "--nodes", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Ctrl-C once every node has been launched, while up waits for them to boot.
    let state = "/var/lib/pigeonair-lab/t-int/state.json";
    // Polled closely: booting takes well under a second once the nodes are launched.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(state).is_ok_and(|s| s.matches("nspawn_pid").count() == 3) {
        assert!(Instant::now() < deadline, "up never launched its nodes");
        std::thread::sleep(Duration::from_millis(2));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = up.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "up finished despite Ctrl-C");
    assert!(
        err.contains("interrupted: the lab was taken down again"),
        "{err}"
    );
    assert_nothing_left("t-int", &links_before);
}
