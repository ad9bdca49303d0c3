//! Golden tests of the renderers: for every answers file in `parse_answer/NAME.toml`, the files
//! rendered (with fixed secrets) are in `render/NAME/` under their node paths, with a
//! `_meta.txt` listing each file's mode, owner, group and unit.
//! `UPDATE_GOLDEN=1 cargo test` rewrites them (review the diff).

use std::fmt::Write as _;
use std::path::Path;

use pigeonair_appliance::cluster::{ClusterView, NodeView};
use pigeonair_appliance::parse_answers;
use pigeonair_appliance::render::{Secrets, render_all};

fn secrets() -> Secrets {
    Secrets {
        postfix_ldap: "POSTFIX-LDAP-SECRET".into(),
        dovecot_ldap: "DOVECOT-LDAP-SECRET".into(),
        proxy: "PROXY-SECRET".into(),
        doveadm: "DOVEADM-SECRET".into(),
    }
}

/// Three nodes, as every case sees the cluster (the node itself is among them or not): mx1
/// the first (provider, CA, DNS server), mx2 the second to join (DNS server).
fn view() -> ClusterView {
    ClusterView::new((1..=3).map(|i| NodeView {
        hostname: format!("mx{i}.example.com"),
        private: Some(format!("10.42.0.1{i}").parse().unwrap()),
        public: Some(format!("203.0.113.1{i}").parse().unwrap()),
        state: "active".into(),
        roles: match i {
            1 => vec!["provider".into(), "ca".into(), "dns".into()],
            2 => vec!["dns".into()],
            _ => Vec::new(),
        },
        server_id: None,
    }))
}

#[test]
fn rendered_files_match_golden() {
    let res = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/resources");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(res.join("parse_answer"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    for case in cases {
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        let plan = parse_answers(&std::fs::read_to_string(&case).unwrap()).unwrap();
        let files = render_all(&plan, &secrets(), &view());
        let dir = res.join("render").join(&name);
        if update {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let mut meta = String::new();
        for f in &files {
            let _ = writeln!(
                meta,
                "{} {:o} {}:{} {:?}",
                f.path, f.mode, f.owner, f.group, f.unit
            );
            let path = dir.join(f.path.trim_start_matches('/'));
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &f.contents).unwrap();
            } else {
                let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                    panic!("{} missing (UPDATE_GOLDEN=1 writes it)", path.display())
                });
                assert_eq!(expected, f.contents, "{}", path.display());
            }
        }
        let meta_path = dir.join("_meta.txt");
        if update {
            std::fs::write(&meta_path, &meta).unwrap();
        } else {
            assert_eq!(
                std::fs::read_to_string(&meta_path).unwrap(),
                meta,
                "{}",
                meta_path.display()
            );
        }
    }
}

/// The cluster with two providers: mx1 (made before there were two, so no server ID on its
/// entry: it is 1) and mx2 (server ID 2); mx3 a replica.
fn two_providers() -> ClusterView {
    ClusterView::new((1..=3).map(|i| NodeView {
        hostname: format!("mx{i}.example.com"),
        private: Some(format!("10.42.0.1{i}").parse().unwrap()),
        public: Some(format!("203.0.113.1{i}").parse().unwrap()),
        state: "active".into(),
        roles: if i <= 2 {
            vec!["provider".into(), "ca".into()]
        } else {
            Vec::new()
        },
        server_id: (i == 2).then_some(2),
    }))
}

/// slapd's cn=config for each part a node plays in a cluster with two providers, in
/// `render_slapd/NAME.ldif`: the first provider, the second, and a replica of both.
#[test]
fn slapd_config_of_each_directory_part_matches_golden() {
    let res = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/resources");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let first = parse_answers(include_str!("../examples/single-box.toml")).unwrap();
    let joined = |i: u8| {
        let text = std::fs::read_to_string(res.join("parse_answer/joined.toml"))
            .unwrap()
            .replace("mx2.example.com", &format!("mx{i}.example.com"))
            .replace("203.0.113.12/24", &format!("203.0.113.1{i}/24"))
            .replace("10.42.0.12/24", &format!("10.42.0.1{i}/24"));
        parse_answers(&text).unwrap()
    };
    let cases = [
        ("first-provider", first),
        ("second-provider", joined(2)),
        ("replica-of-two", joined(3)),
    ];
    for (name, plan) in cases {
        let ldif = render_all(&plan, &secrets(), &two_providers())
            .into_iter()
            .find(|f| f.path == "/etc/pigeonair/slapd.ldif")
            .expect("slapd's LDIF is rendered");
        let path = res.join("render_slapd").join(format!("{name}.ldif"));
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &ldif.contents).unwrap();
        } else {
            let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!("{} missing (UPDATE_GOLDEN=1 writes it)", path.display())
            });
            assert_eq!(expected, ldif.contents, "{}", path.display());
        }
    }
}

/// A node with the revocation list on disk has slapd check peers against it from the rendered
/// configuration itself (so a rebuild keeps the check): the CA file becomes the CA-and-list
/// bundle, `olcTLSCRLCheck: peer` follows it, and nothing else changes.
#[test]
fn the_revocation_check_is_part_of_the_rendered_slapd_config_when_asked() {
    use pigeonair_appliance::render::slapd::with_revocation_check;
    let plan = parse_answers(include_str!("../examples/single-box.toml")).unwrap();
    let ldif = render_all(&plan, &secrets(), &two_providers())
        .into_iter()
        .find(|f| f.path == "/etc/pigeonair/slapd.ldif")
        .unwrap();
    let checked = with_revocation_check(ldif.clone());
    assert!(
        !ldif.contents.contains("olcTLSCRLCheck"),
        "no check without the list"
    );
    let expected = ldif.contents.replace(
        "olcTLSCACertificateFile: /etc/pigeonair/cluster/ca.crt\n",
        "olcTLSCACertificateFile: /etc/pigeonair/cluster/ca-crl.pem\nolcTLSCRLCheck: peer\n",
    );
    assert_ne!(expected, ldif.contents);
    assert_eq!(checked.contents, expected);
    assert_eq!(checked.contents.matches("olcTLSCRLCheck").count(), 1);
    // The syncrepl stanzas keep checking the provider against the CA alone.
    assert!(
        checked
            .contents
            .contains("tls_cacert=/etc/pigeonair/cluster/ca.crt")
    );
}
