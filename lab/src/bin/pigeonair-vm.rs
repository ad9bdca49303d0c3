//! `pigeonair-vm run [--timeout S] [--env K=V]... -- COMMAND...`: runs a host command as root
//! inside a throwaway VM booting the appliance image's Debian kernel (for IPVS and NFS, which
//! this machine's kernel lacks). Prints the command's output and exits with its exit code.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
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
}

fn main() -> ExitCode {
    let Cmd::Run {
        timeout,
        env,
        console,
        command,
    } = Cli::parse().command;
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
