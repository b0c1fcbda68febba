//! Running `latticed replay --data DIR --tenant T --at MS` on a stopped node's data directory,
//! bounded in time, and keeping its standard output as bytes (they are compared byte for byte).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How many bytes of the command's standard error a failure shows.
const STDERR_SHOWN: usize = 400;

/// Runs the replay and returns what it printed; an error says why there is no output (it could
/// not start, failed, or was still running at `deadline` and was killed).
pub fn replay(
    latticed: &Path,
    data: &Path,
    tenant: &str,
    at_ms: u64,
    deadline: Instant,
) -> Result<Vec<u8>, String> {
    let mut child = Command::new(latticed)
        .arg("replay")
        .arg("--data")
        .arg(data)
        .args(["--tenant", tenant, "--at", &at_ms.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {} replay: {e}", latticed.display()))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("latticed replay was still running at its deadline; killed".into());
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for latticed replay failed: {e}"));
            }
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        let text = String::from_utf8_lossy(&err);
        let shown: String = text.trim().chars().take(STDERR_SHOWN).collect();
        Err(format!("latticed replay failed ({status}): {shown}"))
    }
}

/// Reads a pipe to its end on a thread, so a large output never blocks the child on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}
