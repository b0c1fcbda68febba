//! Server-side cost, read from Linux /proc: CPU time (utime + stime of every thread, from
//! `/proc/PID/stat`) and resident memory (`VmRSS` in `/proc/PID/status`). Any server works, since
//! nothing is asked of it beyond its PID. Also the CPU time a virtual machine's host took from it
//! (steal, from `/proc/stat`): on a shared VM every server's latency rises with it, so each run
//! reports it next to its figures. And the CPU time the whole machine spent (every process and
//! the kernel's interrupt work): on loopback a server's socket work is partly done in its
//! clients' processes (a segment Nagle's algorithm held back is sent while the client handles
//! the ACK that releases it), so a server's own CPU time alone favours servers that delay output.

use std::time::Instant;

use serde::Serialize;

use crate::error::Error;

/// CPU time a process has used so far, and when it was read.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    ticks: u64,
    at: Instant,
}

/// Server CPU use over a measured window.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUsage {
    /// CPU seconds used (user + system) during the window.
    pub cpu_secs: f64,
    /// Length of the window in seconds.
    pub wall_secs: f64,
    /// `cpu_secs / wall_secs` as a percentage of one core (can exceed 100 on several cores).
    pub percent_of_one_core: f64,
}

/// The whole machine's CPU time so far: the total, what the host took (steal) and what was
/// busy (user, nice, system, irq and softirq time), and when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostSample {
    total: u64,
    steal: u64,
    busy: u64,
    at: Instant,
}

/// Read the machine's cumulative CPU time now.
pub fn host_sample() -> Result<HostSample, Error> {
    let path = "/proc/stat";
    parse_host_cpu(&read(path)?).ok_or_else(|| Error::ProcFormat {
        path: path.to_owned(),
        detail: "no \"cpu\" line with eight counters".to_owned(),
    })
}

/// Percent of all CPU time between two samples that the host gave to other guests; `None` when
/// no time passed between them.
pub fn host_steal_percent(before: HostSample, after: HostSample) -> Option<f64> {
    let total = after.total.checked_sub(before.total).filter(|t| *t > 0)?;
    let steal = after.steal.saturating_sub(before.steal);
    Some(steal as f64 / total as f64 * 100.0)
}

/// CPU time the whole machine was busy between two samples (every process and the kernel's
/// interrupt work; not idle, I/O wait or steal), as a percentage of one core; `None` when no
/// time passed between them.
pub fn machine_cpu_percent(before: HostSample, after: HostSample) -> Option<f64> {
    let wall_secs = after.at.duration_since(before.at).as_secs_f64();
    if wall_secs <= 0.0 {
        return None;
    }
    let busy = after.busy.saturating_sub(before.busy) as f64;
    Some(busy / clock_ticks_per_sec().ok()? as f64 / wall_secs * 100.0)
}

/// Read the process's cumulative CPU time now.
pub fn cpu_sample(pid: u32) -> Result<CpuSample, Error> {
    let path = format!("/proc/{pid}/stat");
    let text = read(&path)?;
    let ticks = parse_stat_ticks(&text).ok_or_else(|| Error::ProcFormat {
        path,
        detail: "no utime/stime fields after the command name".to_owned(),
    })?;
    Ok(CpuSample {
        ticks,
        at: Instant::now(),
    })
}

/// CPU use between two samples of the same process.
pub fn cpu_usage(before: CpuSample, after: CpuSample) -> Result<CpuUsage, Error> {
    let cpu_secs = after.ticks.saturating_sub(before.ticks) as f64 / clock_ticks_per_sec()? as f64;
    let wall_secs = after.at.duration_since(before.at).as_secs_f64();
    let percent_of_one_core = if wall_secs > 0.0 {
        cpu_secs / wall_secs * 100.0
    } else {
        0.0
    };
    Ok(CpuUsage {
        cpu_secs,
        wall_secs,
        percent_of_one_core,
    })
}

/// The process's resident set size in bytes now.
pub fn vm_rss_bytes(pid: u32) -> Result<u64, Error> {
    let path = format!("/proc/{pid}/status");
    let text = read(&path)?;
    parse_status_rss(&text).ok_or_else(|| Error::ProcFormat {
        path,
        detail: "no \"VmRSS: <n> kB\" line".to_owned(),
    })
}

/// Fail early with a clear error when `--server-pid` names no readable process.
pub fn check_pid(pid: u32) -> Result<(), Error> {
    cpu_sample(pid).map(|_| ())
}

fn read(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Proc {
        path: path.to_owned(),
        source,
    })
}

/// The kernel's unit for /proc CPU times (USER_HZ), asked of the C library rather than assumed.
fn clock_ticks_per_sec() -> Result<u64, Error> {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks)
        .ok()
        .filter(|t| *t > 0)
        .ok_or_else(|| Error::ProcFormat {
            path: "sysconf(_SC_CLK_TCK)".to_owned(),
            detail: format!("returned {ticks}"),
        })
}

/// `utime + stime` from a `/proc/PID/stat` line. The command name (field 2) is in parentheses and
/// may contain spaces or parentheses itself, so fields are counted from its last `)`.
fn parse_stat_ticks(text: &str) -> Option<u64> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    // After the command: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The `cpu` line of `/proc/stat`, read now: user, nice, system, idle, iowait, irq, softirq and
/// steal make up the total (guest time is already counted in user and nice).
fn parse_host_cpu(text: &str) -> Option<HostSample> {
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let counters: Vec<u64> = line["cpu ".len()..]
        .split_ascii_whitespace()
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = counters[..] else {
        return None;
    };
    Some(HostSample {
        total: counters.iter().sum(),
        steal,
        busy: user + nice + system + irq + softirq,
        at: Instant::now(),
    })
}

/// `VmRSS` from `/proc/PID/status`, converted from kB to bytes.
fn parse_status_rss(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_ascii_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next()? {
        "kB" => value.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_count_from_the_last_parenthesis() {
        let stat = "4242 (weird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 9 0 100 1000 200";
        assert_eq!(parse_stat_ticks(stat), Some(1234 + 567));
    }

    #[test]
    fn stat_without_fields_is_none() {
        assert_eq!(parse_stat_ticks("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat_ticks("no parenthesis at all"), None);
        assert_eq!(parse_stat_ticks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 5"), None);
    }

    #[test]
    fn status_rss_in_bytes() {
        let status = "Name:\tinspircd\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(parse_status_rss(status), Some(2048 * 1024));
        assert_eq!(parse_status_rss("Name: x\n"), None);
        assert_eq!(parse_status_rss("VmRSS: 12 MB\n"), None);
        assert_eq!(parse_status_rss("VmRSS: lots kB\n"), None);
    }

    #[test]
    fn host_steal_is_a_share_of_all_cpu_time() {
        let before = "cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\n";
        let after = "cpu  200 0 100 1495 10 0 10 185 7 0\ncpu0 100 0 50 750 5 0 5 90 3 0\n";
        let (before, after) = (
            parse_host_cpu(before).unwrap(),
            parse_host_cpu(after).unwrap(),
        );
        assert_eq!(before.total, 1000);
        assert_eq!(before.busy, 155);
        assert_eq!(after.busy, 310);
        let steal = host_steal_percent(before, after).unwrap();
        assert!((steal - 15.0).abs() < 1e-9, "{steal}");
        assert_eq!(host_steal_percent(after, after), None);
        assert_eq!(parse_host_cpu("cpu  1 2 3 4 5 6 7\n"), None);
        assert_eq!(parse_host_cpu("cpu  1 2 3 4 5 6 7 x\n"), None);
        assert_eq!(parse_host_cpu("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert!(host_sample().is_ok());
    }

    #[test]
    fn machine_cpu_counts_this_process_spinning() {
        let before = host_sample().unwrap();
        let spin_until = Instant::now() + std::time::Duration::from_millis(300);
        let mut spins = 0u64;
        while Instant::now() < spin_until {
            spins = std::hint::black_box(spins + 1);
        }
        let after = host_sample().unwrap();
        let busy = machine_cpu_percent(before, after).unwrap();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        assert!(
            busy > 10.0 && busy <= cores * 100.0 + 20.0,
            "{busy} % of a core while spinning"
        );
        assert_eq!(machine_cpu_percent(after, after), None);
    }

    #[test]
    fn own_process_can_be_sampled() {
        let pid = std::process::id();
        let before = cpu_sample(pid).unwrap();
        let after = cpu_sample(pid).unwrap();
        let usage = cpu_usage(before, after).unwrap();
        assert!(usage.cpu_secs >= 0.0 && usage.wall_secs >= 0.0);
        assert!(vm_rss_bytes(pid).unwrap() > 0);
    }

    #[test]
    fn missing_process_is_an_error() {
        assert!(matches!(check_pid(u32::MAX), Err(Error::Proc { .. })));
    }
}
