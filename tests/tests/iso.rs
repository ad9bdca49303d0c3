//! The install medium against the real thing: `pigeonair-image iso` builds it from this
//! workspace's packages (`target/debian`, which scripts/build makes), a second build reuses
//! every cached part, and the ISO boots in qemu (TCG, serial console only) through GRUB and
//! live-boot to the installer's welcome screen (BIOS here; `iso_install`'s cluster test boots
//! it with UEFI to the same screen and on). Each VM is killed however the test ends.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use pigeonair_image::ImageStore;
use pigeonair_lab::medium::{Firmware, MediumVm};

/// The welcome screen's title: the installer runs on the serial console.
const WELCOME: &str = "Welcome to PigeonAir";
/// Power-on to the welcome screen under TCG on a busy two-core host takes a minute or two.
const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

/// The medium, built once per test binary; the second build changes nothing and reuses every
/// cached part.
fn medium() -> &'static Path {
    static ISO: OnceLock<PathBuf> = OnceLock::new();
    ISO.get_or_init(|| {
        let output = ImageStore::from_env().root().join("iso/smoke-test.iso");
        println!("{}", pigeonair_tests::support::build_medium(&output));
        let started = Instant::now();
        let again = pigeonair_tests::support::build_medium(&output);
        let secs = started.elapsed().as_secs_f64();
        println!("{again}");
        assert!(
            again.contains("(initramfs and squashed base) cached: reused"),
            "live part rebuilt:\n{again}"
        );
        assert!(
            again.contains("packages layer squashfs cached: reused"),
            "packages squashfs rebuilt:\n{again}"
        );
        assert!(!again.contains("debootstrap"), "base rebuilt:\n{again}");
        println!("ISO rebuilt from the cache in {secs:.1} s");
        let manifest =
            std::fs::read_to_string(output.with_file_name("smoke-test.iso.manifest.json"))
                .expect("the manifest beside the ISO");
        for field in [
            "\"debian\": \"trixie 13",
            "\"pigeonair\": \"",
            "\"slapd\": ",
            "\"iso\": {",
        ] {
            assert!(manifest.contains(field), "{field} missing:\n{manifest}");
        }
        output
    })
}

/// One VM at a time: each emulates two CPUs on this two-core machine.
static ONE_VM: Mutex<()> = Mutex::new(());

fn boots_to_the_installer(test: &str, firmware: Firmware) {
    if !pigeonair_tests::support::medium_host_ready(test, &[]) {
        return;
    }
    let iso = medium();
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let mut vm = MediumVm::new(iso, firmware).start().expect("qemu starts");
    let elapsed = vm
        .wait_for(WELCOME, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{firmware:?}: {e}"));
    let console = vm.console_text();
    drop(vm);
    assert!(
        console.contains("PigeonAir installer"),
        "GRUB's menu entry not seen:\n{console}"
    );
    println!(
        "{firmware:?}: power-on to the installer's welcome screen on ttyS0 in {:.1} s",
        elapsed.as_secs_f64()
    );
}

#[test]
fn the_install_medium_boots_to_the_installer_with_bios() {
    boots_to_the_installer("install_medium_bios", Firmware::Bios);
}
