//! Where the unattended install's answers come from, in this order: a drive labelled
//! `PIGEONAIR`, then the file embedded in the install medium (`pigeonair-image iso --answers`).
//! Pure: finding the drive and reading are the shell's ([`super::unattended`]).

use std::fmt;
use std::path::PathBuf;

/// One place the answers are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswersSource {
    /// `answers.toml` on the drive labelled `PIGEONAIR` (its device).
    Drive(String),
    /// The answers file embedded in the install medium (its path in the live system).
    Embedded(PathBuf),
}

impl fmt::Display for AnswersSource {
    /// How the console names it: "the answers on /dev/vdb (labelled PIGEONAIR)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswersSource::Drive(dev) => write!(
                f,
                "the answers on {dev} (labelled {})",
                super::unattended::ANSWERS_LABEL
            ),
            AnswersSource::Embedded(path) => write!(
                f,
                "the answers embedded in the install medium ({})",
                path.display()
            ),
        }
    }
}

impl AnswersSource {
    /// What to fix when these answers are refused.
    pub fn where_to_fix(&self) -> String {
        match self {
            AnswersSource::Drive(_) => format!(
                "{} on the drive labelled {}",
                super::unattended::ANSWERS_FILE,
                super::unattended::ANSWERS_LABEL
            ),
            AnswersSource::Embedded(_) => {
                "the answers embedded in the medium: build it again with pigeonair-image iso \
                 --answers FILE, or attach a drive labelled PIGEONAIR, which comes first"
                    .into()
            }
        }
    }
}

/// The first source there is, in the order drive, embedded file.
pub fn choose(drive: Option<String>, embedded: Option<PathBuf>) -> Option<AnswersSource> {
    drive
        .map(AnswersSource::Drive)
        .or(embedded.map(AnswersSource::Embedded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drive_then_the_medium() {
        let embedded = PathBuf::from("/run/live/medium/pigeonair/answers.toml");
        assert_eq!(
            choose(Some("/dev/vdb".into()), Some(embedded.clone())),
            Some(AnswersSource::Drive("/dev/vdb".into()))
        );
        assert_eq!(
            choose(None, Some(embedded.clone())),
            Some(AnswersSource::Embedded(embedded.clone()))
        );
        assert_eq!(choose(None, None), None);
        assert_eq!(
            AnswersSource::Drive("/dev/vdb".into()).to_string(),
            "the answers on /dev/vdb (labelled PIGEONAIR)"
        );
        assert_eq!(
            AnswersSource::Embedded(embedded).to_string(),
            "the answers embedded in the install medium (/run/live/medium/pigeonair/answers.toml)"
        );
    }
}
