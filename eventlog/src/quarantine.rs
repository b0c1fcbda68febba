//! Opening a log that may be damaged: a directory the engine cannot read is moved aside (never
//! deleted, so an operator can inspect or recover it) and a fresh log is opened in its place;
//! the node then resyncs everything from its peers.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::OpenError;
use crate::log::{EventLog, LogOptions};

/// How [`EventLog::open_or_quarantine`] got its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The directory opened (or was created) normally.
    Clean,
    /// The directory was damaged: it was renamed to `moved_to` and a fresh log opened.
    Quarantined {
        /// Where the damaged directory now is.
        moved_to: PathBuf,
        /// Why it could not be opened.
        reason: String,
    },
}

impl EventLog {
    /// Opens the log in `dir`; if its data is damaged, renames the directory to
    /// `<dir>.quarantined-<unix_ms>` and opens a fresh, empty log in `dir`.
    ///
    /// Errors that are not about the data (permissions, the directory locked by another
    /// process, a failing disk) are returned as they are: quarantining would not help.
    pub fn open_or_quarantine(
        dir: impl AsRef<Path>,
        options: &LogOptions,
    ) -> Result<(EventLog, Opened), OpenError> {
        let dir = dir.as_ref();
        let error = match EventLog::open_with(dir, options) {
            Ok(log) => return Ok((log, Opened::Clean)),
            Err(error) if error.is_corruption() => error,
            Err(error) => return Err(error),
        };
        let moved_to = quarantine_path(dir);
        std::fs::rename(dir, &moved_to).map_err(|source| OpenError::Quarantine {
            path: dir.to_path_buf(),
            to: moved_to.clone(),
            source,
        })?;
        tracing::error!(
            dir = %dir.display(),
            moved_to = %moved_to.display(),
            %error,
            "event log is damaged: quarantined it and starting empty"
        );
        let log = EventLog::open_with(dir, options)?;
        Ok((
            log,
            Opened::Quarantined {
                moved_to,
                reason: error.to_string(),
            },
        ))
    }
}

/// A free name beside `dir`: `<dir>.quarantined-<unix_ms>`, with `-<n>` added if taken.
fn quarantine_path(dir: &Path) -> PathBuf {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".quarantined-{ms}"));
    let base = PathBuf::from(name);
    let mut candidate = base.clone();
    let mut n = 1;
    while candidate.exists() {
        let mut name = base.as_os_str().to_owned();
        name.push(format!("-{n}"));
        candidate = PathBuf::from(name);
        n += 1;
    }
    candidate
}
