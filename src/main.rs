//! `pagent`: the attls policy agent command line. All the work is in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    attls::cli::run(attls::cli::Cli::parse())
}
