//! Man pages and bash completions of PigeonAir's programs, made from the same clap definitions
//! that parse their command lines, so the two never disagree. `scripts/build` runs each
//! release binary with `PIGEONAIR_WRITE_DOCS=DIR`; the package ships what they write
//! (`/usr/share/man/man8`, `/usr/share/bash-completion/completions`).

#![forbid(unsafe_code)]

use std::io;
use std::path::Path;

/// The environment variable that asks a program for its documentation instead of running.
pub const WRITE_DOCS: &str = "PIGEONAIR_WRITE_DOCS";

/// Writes `DIR/man/NAME.8` (and `NAME-SUB.8` for each subcommand, recursively) and
/// `DIR/completions/NAME` (bash) for `cmd`.
pub fn write(cmd: clap::Command, dir: &Path) -> io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    // Section 8: system administration programs, run as root.
    write_pages(&cmd, &man, None)?;
    let name = cmd.get_name().to_string();
    let mut out = std::fs::File::create(completions.join(&name))?;
    clap_complete::generate(clap_complete::Shell::Bash, &mut cmd.clone(), name, &mut out);
    Ok(())
}

fn write_pages(cmd: &clap::Command, man: &Path, parent: Option<&str>) -> io::Result<()> {
    let name = match parent {
        Some(p) => format!("{p}-{}", cmd.get_name()),
        None => cmd.get_name().to_string(),
    };
    let page = cmd
        .clone()
        .name(name.clone())
        .bin_name(name.replace('-', " "));
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).section("8").render(&mut buf)?;
    std::fs::write(man.join(format!("{name}.8")), buf)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, man, Some(&name))?;
    }
    Ok(())
}

/// If [`WRITE_DOCS`] names a directory, writes `cmd`'s documentation there and exits the
/// process (0, or 1 with the reason); otherwise returns and the program runs.
pub fn write_if_asked(cmd: impl FnOnce() -> clap::Command) {
    let Some(dir) = std::env::var_os(WRITE_DOCS) else {
        return;
    };
    let cmd = cmd();
    let name = cmd.get_name().to_string();
    match write(cmd, Path::new(&dir)) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!(
                "{name}: writing documentation to {}: {e}",
                Path::new(&dir).display()
            );
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_for_the_program_and_each_subcommand_and_a_completion() {
        let cmd = clap::Command::new("demo").about("A demo").subcommand(
            clap::Command::new("user")
                .about("Users")
                .subcommand(clap::Command::new("add").about("Add a user")),
        );
        let dir = std::env::temp_dir().join(format!("pigeonair-docs-{}", std::process::id()));
        write(cmd, &dir).unwrap();
        let page = std::fs::read_to_string(dir.join("man/demo.8")).unwrap();
        assert!(page.contains(".TH demo 8"), "{page}");
        assert!(page.contains("user"), "{page}");
        let sub = std::fs::read_to_string(dir.join("man/demo-user-add.8")).unwrap();
        assert!(sub.contains("Add a user"), "{sub}");
        let bash = std::fs::read_to_string(dir.join("completions/demo")).unwrap();
        assert!(bash.contains("complete -F"), "{bash}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
