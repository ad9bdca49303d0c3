//! `pigeonair-vm run [--timeout S] [--env K=V]... -- COMMAND...`: runs a host command as root
//! inside a throwaway VM booting the appliance image's Debian kernel (for IPVS and NFS, which
//! this machine's kernel lacks). Prints the command's output and exits with its exit code.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Parser, Subcommand};
use pigeonair_lab::medium::{Firmware, MediumVm};
use pigeonair_lab::vm::Vm;

#[derive(Parser)]
#[command(
    name = "pigeonair-vm",
    about = "Run a host command inside a VM with the appliance's kernel"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot, run COMMAND as root, power off.
    Run {
        /// Seconds before the VM is killed.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Environment for the command, KEY=VALUE.
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Print the whole serial console, kernel messages included.
        #[arg(long)]
        console: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Boot an install medium (`pigeonair-image iso`) with its serial console on this
    /// terminal (Ctrl-A X quits qemu), or headless until TEXT appears (`--wait-for`).
    Boot {
        /// The ISO.
        iso: PathBuf,
        /// UEFI (OVMF, q35) instead of BIOS.
        #[arg(long)]
        uefi: bool,
        /// Headless: wait until TEXT is on the serial console, print how long it took, stop.
        #[arg(long, value_name = "TEXT")]
        wait_for: Option<String>,
        /// Seconds --wait-for waits.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}

fn main() -> ExitCode {
    let (timeout, env, console, command) = match Cli::parse().command {
        Cmd::Run {
            timeout,
            env,
            console,
            command,
        } => (timeout, env, console, command),
        Cmd::Boot {
            iso,
            uefi,
            wait_for,
            timeout,
        } => return boot(iso, uefi, wait_for, timeout),
    };
    let mut pairs = Vec::new();
    for e in env {
        match e.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                pairs.push((k.to_string(), v.to_string()))
            }
            _ => {
                eprintln!("pigeonair-vm: --env {e:?}: use KEY=VALUE (KEY of A-Z, 0-9, _)");
                return ExitCode::from(2);
            }
        }
    }
    let result =
        Vm::from_image().and_then(|vm| vm.run(&command, &pairs, Duration::from_secs(timeout)));
    match result {
        Ok(out) => {
            print!("{}", if console { &out.console } else { out.output() });
            eprintln!(
                "pigeonair-vm: exit {} after {:.1} s",
                out.code,
                out.elapsed.as_secs_f64()
            );
            ExitCode::from(out.code.clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("pigeonair-vm: {e}");
            ExitCode::from(1)
        }
    }
}

fn boot(iso: PathBuf, uefi: bool, wait_for: Option<String>, timeout: u64) -> ExitCode {
    let firmware = if uefi { Firmware::Uefi } else { Firmware::Bios };
    let vm = MediumVm::new(iso, firmware);
    let Some(text) = wait_for else {
        // Interactive: the serial console and qemu's monitor multiplexed on this terminal.
        let mut args = vm.qemu_args();
        if let Some(i) = args.iter().position(|a| a == "-serial") {
            args[i + 1] = "mon:stdio".into();
        }
        return match Command::new("qemu-system-x86_64").args(&args).status() {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            Ok(s) => {
                eprintln!("pigeonair-vm: qemu ended ({s})");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("pigeonair-vm: starting qemu-system-x86_64: {e}");
                ExitCode::from(1)
            }
        };
    };
    let result = vm
        .start()
        .and_then(|mut running| running.wait_for(&text, Duration::from_secs(timeout)));
    match result {
        Ok(elapsed) => {
            println!(
                "pigeonair-vm: {text:?} on the serial console after {:.1} s",
                elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pigeonair-vm: {e}");
            ExitCode::from(1)
        }
    }
}
