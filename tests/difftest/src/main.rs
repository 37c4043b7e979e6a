//! Command line of aufs-difftest.

use aufs_difftest::env::{Mode, XattrNs};
use aufs_difftest::ops::Bug;
use aufs_difftest::runner::{self, Config, DEFAULT_MAX_RERUNS};
use aufs_difftest::suite::{self, SuiteOpts};
use std::path::PathBuf;
use std::process::exit;

const USAGE: &str = "\
usage:
  aufs-difftest run       --seed S --ops N [--branches K] [--workdir DIR] [--keep]
                          [--only I,J,...] [--no-shrink] [--max-reruns R] [-v]
                          [--xattr-ns auto|user|trusted] [--unpriv]
  aufs-difftest selfcheck --seed S --ops N [same options as run]
  aufs-difftest suite     [--selfcheck] [--workdir DIR] [--max-reruns R] [--xattr-ns NS]

run        as root with aufs.ko loaded: mounts a tmpfs on DIR (default
           /tmp/aufs-difftest), builds K branches b0=rw, b1.. = ro+wh or ro,
           the flattened reference view in DIR/ref and the aufs mount DIR/mnt,
           applies N random operations to both and compares every result and
           the trees (at random checkpoints and at the end: before and after
           dropping the caches, and after unmounting and mounting again).
selfcheck  the same without aufs: the union side is a second copy of the
           flattened view (must always pass; validates the tester).
suite      fixed seeds in run mode (or selfcheck with --selfcheck), kselftest TAP.

--xattr-ns xattr namespace of the operations; auto = user.* when the work
           directory's filesystem supports it, else trusted.* (tmpfs before
           Linux 6.6 has no user.* xattrs).
--unpriv   after the set-up, run the operations as uid/gid 65534 in a forked
           child (permission checks); fixtures give many entries to it.
-v         print per-operation outcome statistics of a passing run.
--only     replay only these operation indices of the generated sequence
           (as printed for a minimized reproducer).
exit: 0 pass, 1 failure, 2 usage error (suite: 4 when everything skipped).";

fn usage_error(msg: &str) -> ! {
    eprintln!("aufs-difftest: {msg}\n{USAGE}");
    exit(2)
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    let v = v.unwrap_or_else(|| usage_error(&format!("{flag} needs a value")));
    v.parse()
        .unwrap_or_else(|_| usage_error(&format!("{flag}: not a number: {v}")))
}

fn parse_list(v: Option<String>) -> Vec<usize> {
    let v = v.unwrap_or_else(|| usage_error("--only needs a value"));
    if v == "none" {
        return Vec::new();
    }
    v.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| usage_error(&format!("--only: bad index {s:?}")))
        })
        .collect()
}

fn main() {
    // Die quietly on a closed pipe (`aufs-difftest suite | head`), like C
    // tools, instead of panicking in println!.
    // SAFETY: setting a signal disposition to its default at startup.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut args = std::env::args().skip(1);
    let cmd = match args.next() {
        Some(c) => c,
        None => usage_error("missing command"),
    };
    if cmd == "-h" || cmd == "--help" || cmd == "help" {
        println!("{USAGE}");
        return;
    }
    let mut seed: Option<u64> = None;
    let mut ops: Option<usize> = None;
    let mut branches = None;
    let mut workdir = None;
    let mut keep = false;
    let mut only = None;
    let mut no_shrink = false;
    let mut max_reruns = DEFAULT_MAX_RERUNS;
    let mut bug: Option<Bug> = None;
    let mut xattr_ns = XattrNs::Auto;
    let mut selfcheck = false;
    let mut verbose = false;
    let mut unpriv = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = Some(parse_num("--seed", args.next())),
            "--ops" => ops = Some(parse_num("--ops", args.next())),
            "--branches" => {
                let k: usize = parse_num("--branches", args.next());
                if !(1..=64).contains(&k) {
                    usage_error("--branches must be in 1..=64");
                }
                branches = Some(k);
            }
            "--workdir" => {
                workdir = Some(PathBuf::from(
                    args.next()
                        .unwrap_or_else(|| usage_error("--workdir needs a value")),
                ))
            }
            "--keep" => keep = true,
            "--only" => only = Some(parse_list(args.next())),
            "--no-shrink" => no_shrink = true,
            "--max-reruns" => max_reruns = parse_num("--max-reruns", args.next()),
            // Hidden: make the union side misbehave (tests the tester).
            "--inject-bug" => bug = Some(Bug::UnlinkC),
            s if s.starts_with("--inject-bug=") => {
                let name = &s["--inject-bug=".len()..];
                bug = Some(
                    Bug::parse(name)
                        .unwrap_or_else(|| usage_error(&format!("unknown bug {name:?}"))),
                );
            }
            "--xattr-ns" => {
                xattr_ns = match args.next().as_deref() {
                    Some("auto") => XattrNs::Auto,
                    Some("user") => XattrNs::User,
                    Some("trusted") => XattrNs::Trusted,
                    _ => usage_error("--xattr-ns takes auto, user or trusted"),
                }
            }
            "--selfcheck" => selfcheck = true,
            "-v" | "--verbose" => verbose = true,
            "--unpriv" => unpriv = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => usage_error(&format!("unknown argument {other:?}")),
        }
    }
    if let Some(w) = &workdir {
        if !w.is_absolute() {
            usage_error("--workdir must be an absolute path");
        }
    }
    match cmd.as_str() {
        "run" | "selfcheck" => {
            if selfcheck {
                usage_error("--selfcheck is for the suite command");
            }
            let mode = if cmd == "run" {
                Mode::Run
            } else {
                Mode::Selfcheck
            };
            let mut cfg = Config::new(
                mode,
                seed.unwrap_or_else(|| usage_error("--seed is required")),
                ops.unwrap_or_else(|| usage_error("--ops is required")),
            );
            cfg.branches = branches;
            cfg.workdir = workdir;
            cfg.keep = keep;
            cfg.only = only;
            cfg.shrink = !no_shrink;
            cfg.max_reruns = max_reruns;
            cfg.bug = bug;
            cfg.verbose = verbose;
            cfg.xattr_ns = xattr_ns;
            cfg.unpriv = unpriv;
            let rep = runner::run_test(&cfg);
            for l in &rep.lines {
                println!("{l}");
            }
            exit(if rep.passed { 0 } else { 1 });
        }
        "suite" => {
            if seed.is_some()
                || ops.is_some()
                || branches.is_some()
                || keep
                || only.is_some()
                || unpriv
            {
                usage_error("suite takes only --selfcheck, --workdir, --max-reruns and --xattr-ns");
            }
            let opts = SuiteOpts {
                mode: if selfcheck {
                    Mode::Selfcheck
                } else {
                    Mode::Run
                },
                workdir,
                bug,
                max_reruns,
                xattr_ns,
            };
            exit(suite::run(&opts));
        }
        other => usage_error(&format!("unknown command {other:?}")),
    }
}
