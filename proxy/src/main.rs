//! The `hookgate` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    hookgate::logging::init();
    hookgate::cli::Cli::parse().run()
}
