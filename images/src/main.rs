//! `pigeonair-image`: builds (or reuses) the appliance image and says what it did.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pigeonair_image::{
    Debs, EmbeddedAnswers, ImageSpec, ImageStore, IsoOptions, LiveSpec, Mirror, build_iso,
    ensure_image,
};

#[derive(Parser)]
#[command(
    version,
    about = "Build the PigeonAir appliance image (Debian 13 root filesystem)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the image, reusing every cached layer whose inputs did not change.
    Build {
        /// Directory of PigeonAir .deb files to install on top of the Debian base.
        #[arg(long, default_value = "target/debian")]
        debs: PathBuf,
    },
    /// Build the install medium: a hybrid BIOS/UEFI ISO (also for `dd` to a USB stick) whose
    /// live system is the appliance image and starts the installer on tty1 and ttyS0.
    Iso {
        /// Directory of PigeonAir .deb files (the installer among them).
        #[arg(long, default_value = "target/debian")]
        debs: PathBuf,
        /// Where to write the ISO (its manifest goes beside it as FILE.manifest.json);
        /// default: iso/pigeonair.iso in the image store.
        #[arg(long)]
        output: Option<PathBuf>,
        /// mksquashfs threads (default: all CPUs).
        #[arg(long)]
        processors: Option<u32>,
        /// An answers file (with a [disk] table) to embed in the medium: checked now by the
        /// answers file's validator, it installs unattended when no drive labelled PIGEONAIR
        /// is there. It is readable by anyone holding the medium: prefer admin.password_hash.
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
    },
    /// Print the image last built (its id and layers) as JSON.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = ImageStore::from_env();
    let result = match cli.command {
        Cmd::Build { debs } => build(&store, &debs),
        Cmd::Iso {
            debs,
            output,
            processors,
            answers,
        } => iso(&store, &debs, output, processors, answers.as_deref()),
        Cmd::Show => match store.current() {
            Some(image) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&image).unwrap_or_default()
                );
                Ok(())
            }
            None => Err(anyhow::anyhow!(
                "no image built yet in {}: run `pigeonair-image build`",
                store.root().display()
            )),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pigeonair-image: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn build(store: &ImageStore, debs: &std::path::Path) -> anyhow::Result<()> {
    let mirror = Mirror::from_host()?;
    let debs = Debs::scan(debs)
        .map_err(|e| anyhow::anyhow!("reading packages in {}: {e}", debs.display()))?;
    ensure_image(
        store,
        &ImageSpec::appliance(),
        &mirror,
        &debs,
        &mut std::io::stdout(),
    )?;
    Ok(())
}

fn iso(
    store: &ImageStore,
    debs: &std::path::Path,
    output: Option<PathBuf>,
    processors: Option<u32>,
    answers: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    // Checked before anything is built: a bad file refuses the build at once.
    let answers = answers
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading the answers {}: {e}", path.display()))?;
            EmbeddedAnswers::try_new(&text).map_err(|e| {
                anyhow::anyhow!("the answers {} cannot be embedded:\n{e}", path.display())
            })
        })
        .transpose()?;
    let mirror = Mirror::from_host()?;
    let debs = Debs::scan(debs)
        .map_err(|e| anyhow::anyhow!("reading packages in {}: {e}", debs.display()))?;
    let options = IsoOptions {
        output: output.unwrap_or_else(|| store.default_iso()),
        processors,
        answers,
    };
    build_iso(
        store,
        &ImageSpec::appliance(),
        &LiveSpec::installer(),
        &mirror,
        &debs,
        &options,
        &mut std::io::stdout(),
    )?;
    Ok(())
}
