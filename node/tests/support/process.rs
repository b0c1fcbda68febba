//! The real `latticed` binary as a child process, for tests about what survives a process: a
//! crash (`kill -9`), a clean stop (SIGTERM), a damaged data directory, and the offline CLI
//! (`replay`, `events`) reading what the process left behind.
//!
//! Each [`NodeProcess`] owns a scratch directory holding its config, its log output and its data
//! directory (`data`, relative to the process's working directory, so no machine path is
//! written anywhere). The child is killed when the guard drops, also when a test panics, and
//! the tail of its output is then printed to help read the failure.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::config::open_tenant;
use super::http;

/// How long the node may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a CLI run or a clean stop may take.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The event log flush interval every test node uses (the built-in default).
pub const FLUSH_INTERVAL_MS: u64 = 50;
/// Name of the data directory inside the scratch directory.
const DATA_DIR: &str = "data";
/// How many lines of the node's output a failure shows.
const LOG_TAIL_LINES: usize = 60;

/// A `latticed run` child process and the scratch directory it works in.
pub struct NodeProcess {
    root: tempfile::TempDir,
    config: PathBuf,
    output: PathBuf,
    child: Option<Child>,
    /// The `default` tenant's client listener.
    pub client: SocketAddr,
    /// The admin listener (`/metrics`, `/readyz`, `/admin/*`).
    pub admin: SocketAddr,
}

impl NodeProcess {
    /// Writes a configuration with one open `default` tenant (flood control off) on fresh
    /// loopback ports; `admin_extra` goes into `[admin]` (e.g. a token) and `tenant_extra` after
    /// the tenant's sub-tables (e.g. `[tenants.history]`). Nothing runs until [`start`].
    ///
    /// [`start`]: NodeProcess::start
    pub fn configure(admin_extra: &str, tenant_extra: &str) -> NodeProcess {
        let root = tempfile::tempdir().expect("scratch directory");
        let [client, admin] = free_ports();
        let tenant = open_tenant(tenant_extra).replace("127.0.0.1:0", &client.to_string());
        assert!(
            tenant.contains(&client.to_string()),
            "the tenant listener got its port"
        );
        let toml = format!(
            "[node]\nid = 1\nname = \"irc.test\"\ndata_dir = \"{DATA_DIR}\"\n\
             flush_interval_ms = {FLUSH_INTERVAL_MS}\n\n\
             [admin]\nlisten = \"{admin}\"\n{admin_extra}\n\n{tenant}"
        );
        let config = root.path().join("node.toml");
        std::fs::write(&config, toml).expect("write the node config");
        let output = root.path().join("node.log");
        NodeProcess {
            root,
            config,
            output,
            child: None,
            client,
            admin,
        }
    }

    /// The scratch directory: the config, the node's output, `data` and anything moved beside it.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The node's data directory (its event log).
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join(DATA_DIR)
    }

    /// Starts `latticed run --config <file>` and waits until `/readyz` answers 200.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the node is already running");
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.output)
            .expect("open the node output file");
        let err = out.try_clone().expect("clone the output file handle");
        let child = Command::new(env!("CARGO_BIN_EXE_latticed"))
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn latticed run");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("poll the node process") {
                self.child = None;
                panic!(
                    "the node exited during start-up ({status}):\n{}",
                    self.log_tail()
                );
            }
            if http::get(self.admin, "/readyz", None).is_ok_and(|r| r.status == 200) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "the node was not ready within {START_TIMEOUT:?}:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`: the process dies at once, flushing nothing.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the node is running");
        child.kill().expect("SIGKILL the node");
        child.wait().expect("reap the node");
    }

    /// SIGTERM, then waits for the process to exit (bounded); returns its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child_mut().id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed: {sent}");
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("poll the node process") {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "the node did not exit within {EXIT_TIMEOUT:?} of SIGTERM:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the binary with `args` (e.g. `replay ...`) in the scratch directory, bounded in time.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latticed"))
            .args(args)
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn latticed {args:?}: {e}"));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll the CLI process") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("latticed {args:?} did not finish within {EXIT_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output {
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        }
    }

    /// [`cli`](NodeProcess::cli) that must succeed; returns its standard output as text.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "latticed {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("CLI output is UTF-8")
    }

    /// The value of an unlabelled metric on `/metrics`; a missing metric fails the test.
    pub fn metric(&self, name: &str) -> f64 {
        let page = http::must_get(self.admin, "/metrics", None);
        assert_eq!(page.status, 200, "/metrics: {page:?}");
        metric_value(&page.body, name)
            .unwrap_or_else(|| panic!("no metric {name} on /metrics:\n{}", page.body))
    }

    /// Waits until the event log has completed a flush that started after this call: everything
    /// acknowledged before it is then on disk.
    pub fn wait_for_flush(&self) {
        let count = "latticed_log_flush_seconds_count";
        // A flush in progress now may have started before the last write; the one after it
        // cannot have.
        let target = self.metric(count) + 2.0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.metric(count) < target {
            assert!(
                Instant::now() < deadline,
                "the event log did not flush within 5 s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(FLUSH_INTERVAL_MS / 2));
        }
    }

    /// The last lines the node wrote to its output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("the node is running")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- node output (last lines) ---\n{}", self.log_tail());
        }
    }
}

/// Two distinct free loopback ports: bound together so they differ, then released for the node.
fn free_ports() -> [SocketAddr; 2] {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    [
        a.local_addr().expect("bound address"),
        b.local_addr().expect("bound address"),
    ]
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// The value of the unlabelled sample `name` in Prometheus text format.
pub fn metric_value(page: &str, name: &str) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}
