//! The image's packages layer against the real thing: a .deb given to `pigeonair-lab up` is
//! installed over the cached Debian base (which is not rebuilt) and is there in the nodes.

use std::process::Command;

use pigeonair_tests::support::{LabCli, lab_bin, lab_host_ready, stdout};

/// Builds `pigeonair-lab-marker_1.0-TOKEN_all.deb` in `dir/debs`, holding a file with `token`.
fn marker_deb(dir: &std::path::Path, token: &str) -> std::path::PathBuf {
    let root = dir.join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/pigeonair-lab-marker")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: pigeonair-lab-marker\nVersion: 1.0-{token}\nArchitecture: all\n\
             Maintainer: PigeonAir tests <tests@pigeonair.invalid>\n\
             Description: marker package for the image's packages layer test\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("usr/share/pigeonair-lab-marker/token"), token).unwrap();
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(debs.join(format!("pigeonair-lab-marker_1.0-{token}_all.deb")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    debs
}

#[test]
fn own_packages_are_layered_over_the_cached_base() {
    if !lab_host_ready("own_packages") {
        return;
    }
    let token = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let scratch = std::env::temp_dir().join(format!("pigeonair-debs-{token}"));
    let debs = marker_deb(&scratch, &token);
    let debs_arg = debs.to_str().unwrap();
    let lab = LabCli::new(lab_bin(), "t-debs");
    lab.run(&["down"]);

    let up = lab.ok(&["up", "--bare", "--nodes", "1", "--debs", debs_arg]);
    assert!(up.contains("install 1 PigeonAir package(s): done"), "{up}");
    let ready = up
        .lines()
        .find_map(|l| l.strip_prefix("image: ready: "))
        .expect("image id printed");
    let (_, packages_key) = ready
        .split_once('+')
        .expect("a packages layer in the image id");
    let in_node = stdout(&lab.exec("node1", &["cat", "/usr/share/pigeonair-lab-marker/token"]));
    assert_eq!(in_node, token);
    let version = stdout(&lab.exec(
        "node1",
        &["dpkg-query", "-W", "-f=${Version}", "pigeonair-lab-marker"],
    ));
    assert_eq!(version, format!("1.0-{token}"));

    // A rebuilt package reaches the running node with `refresh`; the base is reused.
    let token2 = format!("{token}b");
    let scratch2 = scratch.join("v2");
    let debs2 = marker_deb(&scratch2, &token2);
    let refreshed = lab.ok(&["refresh", "--debs", debs2.to_str().unwrap()]);
    assert!(refreshed.contains("node1: installed 1"), "{refreshed}");
    assert!(
        !refreshed.contains("debootstrap"),
        "base rebuilt:\n{refreshed}"
    );
    let in_node = stdout(&lab.exec("node1", &["cat", "/usr/share/pigeonair-lab-marker/token"]));
    assert_eq!(in_node, token2);
    let refreshed_key = refreshed
        .lines()
        .find_map(|l| l.strip_prefix("image: ready: "))
        .and_then(|id| id.split_once('+'))
        .map(|(_, k)| k.to_owned())
        .expect("refresh printed the image id");
    lab.ok(&["down"]);

    // Same packages again: both layers are reused, nothing is rebuilt.
    let again = lab.ok(&["up", "--bare", "--nodes", "1", "--debs", debs_arg]);
    assert!(again.contains("cached: reused"), "{again}");
    assert!(
        again.contains(&format!("packages {packages_key} (1 .deb) cached: reused")),
        "{again}"
    );
    assert!(!again.contains("debootstrap"), "base rebuilt:\n{again}");
    lab.ok(&["down"]);
    drop(lab);

    let store = std::env::var("PIGEONAIR_IMAGE_STORE")
        .unwrap_or_else(|_| "/var/lib/pigeonair/images".into());
    std::fs::remove_dir_all(format!("{store}/packages-{packages_key}")).unwrap();
    std::fs::remove_dir_all(format!("{store}/packages-{refreshed_key}")).unwrap();
    std::fs::remove_dir_all(&scratch).unwrap();
}
