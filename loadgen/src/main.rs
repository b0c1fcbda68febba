//! `latticed-loadgen`: parse the command line, run one scenario, print its JSON line.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use latticed_loadgen::cli::Cli;
use latticed_loadgen::{scenario, Error};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("latticed-loadgen: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let runtime = tokio::runtime::Runtime::new().map_err(Error::Runtime)?;
    let line = runtime.block_on(scenario::run(cli.scenario))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").map_err(Error::Report)?;
    stdout.flush().map_err(Error::Report)
}
