//! The async runtime a node runs on, sized by `node.worker_threads`.
//!
//! Every tenant's commands run one at a time under the tenant's lock, so extra worker threads
//! mostly pass connections' wake-ups between each other (a futex wake and a context switch each
//! time) instead of doing more work at once. The node therefore runs on as many workers as the
//! configuration says, one by default; see `NodeConfig::worker_threads`.

use latticed_config::NodeConfig;
use tokio::runtime::{Builder, Runtime};

/// A multi-thread runtime with `node.worker_threads` workers and every driver (I/O, timers)
/// enabled. The blocking pool (event-log flushes, snapshots) is separate and keeps tokio's sizing.
pub fn build(node: &NodeConfig) -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(node.worker_threads)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_as_many_workers_as_configured() {
        let mut node = NodeConfig::default();
        assert_eq!(build(&node).expect("runtime").metrics().num_workers(), 1);
        node.worker_threads = 3;
        let runtime = build(&node).expect("runtime");
        assert_eq!(runtime.metrics().num_workers(), 3);
        let answer = runtime.block_on(async { tokio::spawn(async { 6 * 7 }).await });
        assert_eq!(answer.expect("task"), 42);
    }
}
