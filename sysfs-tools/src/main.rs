//! `aubr`: show the branches of aufs mounts.
//!
//! Options:
//! - `--json`: print a JSON array instead of tables.
//! - `--root DIR` (hidden from `--help`): read `DIR/proc/...` and
//!   `DIR/sys/...` instead of `/proc` and `/sys`; MOUNTPOINT arguments are
//!   then compared literally instead of being canonicalized. Meant for tests.
//!
//! Exit status: 0 on success, 1 when any requested mount could not be shown
//! (not an aufs mount, missing sysfs directory, unreadable or malformed
//! file), 2 when aufs is not loaded or the command line is invalid.

use std::fmt::Display;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use aufs_sysfs_tools::{collect, to_json, Table};
use clap::error::ErrorKind;
use clap::Parser;

/// Exit status for an invalid command line (as clap uses).
const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "aubr",
    version,
    about = "Show the branches of aufs mounts",
    long_about = "Show the branches of aufs mounts, as read from /proc/self/mountinfo \
                  and /sys/fs/aufs/si_*/.\n\nFor each mount, prints a line \
                  `<mountpoint> si=<si>` followed by one row per branch: \
                  index (0 is the top), branch id, permission with attributes \
                  (e.g. ro+wh), and path.",
    after_help = "Exit status: 0 ok; 1 some mount could not be shown; \
                  2 aufs is not loaded or bad usage."
)]
struct Cli {
    /// Print a JSON array of mounts instead of tables
    #[arg(long)]
    json: bool,

    /// Read proc/ and sys/ below DIR instead of / (for tests); MOUNTPOINTs
    /// are then compared literally
    #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
    root: PathBuf,

    /// Show only the aufs mounts at these paths (default: all aufs mounts)
    #[arg(value_name = "MOUNTPOINT")]
    mountpoints: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };

    let report = match collect(&cli.root, &cli.mountpoints) {
        Ok(report) => report,
        Err(e) => {
            complain(&e);
            return ExitCode::from(e.exit_code());
        }
    };

    let output = if cli.json {
        match to_json(&report.mounts) {
            Ok(json) => json + "\n",
            Err(e) => {
                complain(&format_args!("cannot encode JSON: {e}"));
                return ExitCode::FAILURE;
            }
        }
    } else {
        Table(&report.mounts).to_string()
    };
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`aubr | head`) is not worth a message.
        if e.kind() != io::ErrorKind::BrokenPipe {
            complain(&format_args!("cannot write output: {e}"));
            return ExitCode::FAILURE;
        }
    }

    for e in &report.errors {
        complain(e);
    }
    ExitCode::from(report.exit_code())
}

/// Prints `aubr: <msg>` on stderr, never panicking.
fn complain(msg: &dyn Display) {
    let _ = writeln!(io::stderr().lock(), "aubr: {msg}");
}

/// Handles a clap error: help and version go to stdout as usual, real
/// usage errors become a one-line message and exit status 2.
fn clap_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            complain(&format_args!("{first} (see 'aubr --help')"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}
