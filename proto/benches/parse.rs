//! Wire-format benchmarks: parsing the lines a server reads most and serialising messages back.
//!
//! Four typical lines: a short PRIVMSG, a line with several IRCv3 tags (escaped values included),
//! a PRIVMSG whose body is at the 512-byte limit, and an `RPL_ISUPPORT` numeric with the most
//! params a message may have. Client lines go through [`Message::parse_client`] (limits, then
//! parse: what a connection does with every line); the numeric, a server line, through
//! [`Message::parse`]. Serialising measures [`Message::write_to`] into a reused buffer (a
//! connection's own replies) and [`Message::to_bytes`] (a line shared by many recipients).
//! Throughput is in bytes of wire line, CRLF excluded for parsing and included for writing.
//!
//! ```text
//! cargo bench -p latticed-proto --bench parse
//! ```

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use latticed_proto::{Message, ParseError, MAX_LINE_BODY};

/// How a benchmarked line is parsed.
#[derive(Clone, Copy)]
enum Parser {
    /// [`Message::parse_client`]: size limits, then parse.
    Client,
    /// [`Message::parse`]: a server-generated line, no client limits.
    Server,
}

/// One benchmarked line, without its CRLF.
struct Line {
    name: &'static str,
    bytes: Vec<u8>,
    parser: Parser,
}

impl Line {
    /// Parses the line the way the server would read it.
    fn parse(&self) -> Result<Message, ParseError> {
        match self.parser {
            Parser::Client => Message::parse_client(black_box(&self.bytes)),
            Parser::Server => Message::parse(black_box(&self.bytes)),
        }
    }

    /// The parsed message; the benchmark's lines are all valid.
    fn message(&self) -> Message {
        self.parse()
            .unwrap_or_else(|err| panic!("benchmark line {} does not parse: {err}", self.name))
    }
}

/// A PRIVMSG whose body (everything but the CRLF) is exactly the 510 bytes a client may send.
fn near_limit_privmsg() -> Vec<u8> {
    let mut line = b"PRIVMSG #general :".to_vec();
    let words = b"the quick brown fox jumps over the lazy dog ";
    while line.len() < MAX_LINE_BODY - 2 {
        line.push(words[line.len() % words.len()]);
    }
    line
}

fn lines() -> Vec<Line> {
    vec![
        Line {
            name: "short_privmsg",
            bytes: b"PRIVMSG #rust :hello, is anyone around?".to_vec(),
            parser: Parser::Client,
        },
        Line {
            name: "tagged_escaped",
            bytes: concat!(
                "@label=req-4711;+draft/reply=01HZX3K9Q2V7W8RTY6M4N5B3C2;",
                "+example.org/note=semi\\:colon\\sand\\sspace\\\\slash;",
                "+typing=active;+draft/react=\\:thumbsup\\: ",
                "PRIVMSG #rust :agreed, ship it on friday"
            )
            .as_bytes()
            .to_vec(),
            parser: Parser::Client,
        },
        Line {
            name: "near_limit_512",
            bytes: near_limit_privmsg(),
            parser: Parser::Client,
        },
        Line {
            name: "isupport_15_params",
            bytes: concat!(
                ":irc.example.net 005 alice AWAYLEN=390 CASEMAPPING=rfc1459 CHANLIMIT=#:50 ",
                "CHANMODES=beI,k,l,imnst CHANNELLEN=64 CHANTYPES=# ELIST=U EXCEPTS=e ",
                "INVEX=I KICKLEN=390 MODES=4 NETWORK=Example NICKLEN=30 ",
                ":are supported by this server"
            )
            .as_bytes()
            .to_vec(),
            parser: Parser::Server,
        },
    ]
}

/// Short runs: each benchmark takes about 2 s, so each group stays under 20 s.
fn quick(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200));
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    quick(&mut group);
    for line in lines() {
        line.message();
        group.throughput(Throughput::Bytes(line.bytes.len() as u64));
        group.bench_function(line.name, |b| b.iter(|| line.parse()));
    }
    group.finish();
}

fn serialising(c: &mut Criterion) {
    let mut group = c.benchmark_group("write");
    quick(&mut group);
    for line in lines() {
        let msg = line.message();
        let wire = msg.to_bytes();
        assert_eq!(
            Message::parse(&wire[..wire.len() - 2]).as_ref(),
            Ok(&msg),
            "{} does not survive write and re-parse",
            line.name
        );
        group.throughput(Throughput::Bytes(wire.len() as u64));
        let mut buf = BytesMut::with_capacity(wire.len());
        group.bench_function(format!("{}/write_to", line.name), |b| {
            b.iter(|| {
                buf.clear();
                black_box(&msg).write_to(&mut buf);
                black_box(buf.len())
            })
        });
        group.bench_function(format!("{}/to_bytes", line.name), |b| {
            b.iter(|| black_box(&msg).to_bytes())
        });
    }
    group.finish();
}

criterion_group!(benches, parsing, serialising);
criterion_main!(benches);
