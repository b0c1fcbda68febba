//! The chaos harness arrives with the clustering work (issue: nodes form one network over QUIC).
//! Until there is more than one node to break, this binary only says so.

fn main() {
    eprintln!("chaos-tests: no scenarios yet; clustering is not built. See chaos-tests/README.md.");
    std::process::exit(2);
}
