//! The daemons' own validators on what the renderers produce, for every golden case
//! (`appliance/core/tests/resources/render/NAME/`): `postfix check`, `doveconf -n` and
//! `slapadd -n0` + `slaptest` of the Debian 13 versions, run inside a bare lab node. Broken
//! copies must fail them, so the checks cannot pass vacuously.

use std::process::Command;

use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready};

/// Runs a shell script inside node1 and returns (success, output).
fn sh(lab: &LabCli, script: &str) -> (bool, String) {
    let out = lab.exec("node1", &["sh", "-c", script]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn checks(dir: &str) -> [(&'static str, String); 3] {
    [
        (
            "postfix check",
            format!("postfix -c {dir}/etc/postfix check"),
        ),
        (
            "doveconf -n",
            format!("doveconf -n -c {dir}/etc/dovecot/dovecot.conf >/dev/null"),
        ),
        (
            "slaptest",
            format!(
                "rm -rf {dir}/slapd.d && mkdir -p {dir}/slapd.d /run/slapd && \
                 slapadd -n0 -F {dir}/slapd.d -l {dir}/etc/pigeonair/slapd.ldif && \
                 slaptest -u -F {dir}/slapd.d"
            ),
        ),
    ]
}

#[test]
fn rendered_configuration_passes_the_daemons_validators() {
    if !lab_host_ready("validators") {
        return;
    }
    let lab = LabCli::new(lab_bin(), "t-valid");
    lab.run(&["down"]);
    lab.ok(&["up", "--bare", "--nodes", "1"]);
    let golden = format!(
        "{}/../appliance/core/tests/resources/render",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut cases: Vec<String> = std::fs::read_dir(&golden)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in &cases {
        // Copy the rendered tree into the node through tar on standard input.
        let copy = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "tar -C {golden} -cf - {case} | {} --name t-valid exec node1 -- sh -c 'mkdir -p /root/v && tar -C /root/v -xf -'",
                lab.bin().display()
            ))
            .output()
            .unwrap();
        assert!(
            copy.status.success(),
            "{}",
            String::from_utf8_lossy(&copy.stderr)
        );
        let dir = format!("/root/v/{case}");
        for (name, script) in checks(&dir) {
            let (ok, text) = sh(&lab, &script);
            assert!(ok, "{case}: {name} failed:\n{text}");
            assert!(
                !text.to_lowercase().contains("warning"),
                "{case}: {name} warns:\n{text}"
            );
        }
        // Negative controls: the same checks on broken copies fail.
        let bad = format!("/root/bad-{case}");
        let (ok, _) = sh(
            &lab,
            &format!(
                "rm -rf {bad} && cp -r {dir} {bad} && \
                 echo 'protocols = imap nosuch' >> {bad}/etc/dovecot/dovecot.conf && \
                 sed -i 's/^olcSuffix: .*/olcSuffix: not a dn/' {bad}/etc/pigeonair/slapd.ldif && \
                 sed -i 's/^queue_directory/queue_directory = \\/nonexistent\\n#/' {bad}/etc/postfix/main.cf && \
                 echo 'queue_directory = /nonexistent' >> {bad}/etc/postfix/main.cf"
            ),
        );
        assert!(ok);
        for (name, script) in checks(&bad) {
            let (ok, text) = sh(&lab, &script);
            assert!(!ok, "{case}: {name} passed a broken configuration:\n{text}");
        }
    }
    lab.ok(&["down"]);
}
