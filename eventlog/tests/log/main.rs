//! Integration tests of the event log on real sled files in temporary directories.

mod append;
mod ceiling;
mod events;
mod history;
mod quarantine;
mod records;
mod replay;
mod runs;
mod support;
mod write_behind;
