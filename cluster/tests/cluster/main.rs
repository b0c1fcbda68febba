//! Integration tests over real QUIC on 127.0.0.1, with certificates generated at test time.

mod admission;
mod links;
mod pki_files;
mod support;
