//! Group commit: a background thread flushes the log on a short interval, so appends never wait
//! for the disk and a power cut loses at most one interval of them.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Weak;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::LogError;
use crate::log::{EventLog, Inner};

/// Default flush interval: ops appended in the last 50 ms at most are lost on a power cut.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// The running flusher of a log. Dropping it (or [`Flusher::shutdown`]) stops the thread after
/// one last flush. It does not keep the log open: once every [`EventLog`] handle is gone the
/// thread ends (and closing the log flushes it).
pub struct Flusher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Result<(), LogError>>>,
}

impl EventLog {
    /// Starts flushing every `interval` ([`DEFAULT_FLUSH_INTERVAL`] is a good default) on a
    /// background thread. Flush failures are logged, counted in
    /// [`crate::LogMetrics::flush_errors`] and retried at the next tick.
    ///
    /// What a power cut (or kernel crash) can lose: ops appended since the last completed
    /// flush, that is within the last `interval` plus one flush's duration. A process crash
    /// that leaves the OS running loses nothing already appended.
    pub fn spawn_flusher(&self, interval: Duration) -> Result<Flusher, std::io::Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        let log: Weak<Inner> = std::sync::Arc::downgrade(&self.inner);
        let thread = std::thread::Builder::new()
            .name("eventlog-flusher".into())
            .spawn(move || run(log, stopped, interval))?;
        Ok(Flusher {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn run(log: Weak<Inner>, stopped: mpsc::Receiver<()>, interval: Duration) -> Result<(), LogError> {
    loop {
        let last = match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        let Some(inner) = log.upgrade() else {
            return Ok(());
        };
        let result = EventLog { inner }.flush();
        if last {
            return result;
        }
        if let Err(error) = result {
            tracing::warn!(%error, "event log: periodic flush failed");
        }
    }
}

impl Flusher {
    /// Stops the thread after a final flush and returns that flush's result.
    pub fn shutdown(mut self) -> Result<(), LogError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), LogError> {
        drop(self.stop.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => {
                tracing::error!("event log: flusher thread panicked");
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        if let Err(error) = self.stop_and_join() {
            tracing::warn!(%error, "event log: final flush failed");
        }
    }
}
