//! Logging for PigeonAir's daemons: the journal under systemd, standard error elsewhere.

/// Sends a daemon's `log` records to the journal as `name` when there is one, else to standard
/// error as `name: level: message` (a terminal, the VM tests). Level: info.
pub fn init_daemon_logging(name: &'static str) {
    if std::env::var_os("JOURNAL_STREAM").is_some()
        || std::path::Path::new("/run/systemd/journal/socket").exists()
    {
        if let Ok(j) = systemd_journal_logger::JournalLog::new() {
            if j.with_syslog_identifier(name.into()).install().is_ok() {
                log::set_max_level(log::LevelFilter::Info);
                return;
            }
        }
    }
    let _ = log::set_boxed_logger(Box::new(Stderr(name)));
    log::set_max_level(log::LevelFilter::Info);
}

struct Stderr(&'static str);

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        eprintln!(
            "{}: {}: {}",
            self.0,
            r.level().as_str().to_lowercase(),
            r.args()
        );
    }
    fn flush(&self) {}
}
