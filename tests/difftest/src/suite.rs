//! The fixed suite: a list of seeds run with a fixed number of operations
//! each, reported as kselftest TAP.

use crate::env::{self, Mode};
use crate::runner::{self, Config};
use crate::sys;
use crate::tap::Tap;

/// Seeds of the suite (40 seeds x 500 ops = 20,000 operations).
pub const SUITE_SEEDS: [u64; 40] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
    27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
];
/// Operations per seed.
pub const SUITE_OPS: usize = 500;
/// Only the first failures are minimised (each minimisation costs up to
/// `max_reruns` re-runs); later ones report the plain reproducer.
pub const SUITE_SHRINK_FAILURES: usize = 3;

/// Options of the suite.
#[derive(Clone, Debug)]
pub struct SuiteOpts {
    pub mode: Mode,
    pub workdir: Option<std::path::PathBuf>,
    pub bug: Option<crate::ops::Bug>,
    pub max_reruns: usize,
    pub xattr_ns: env::XattrNs,
}

/// Runs the suite, printing TAP; returns the exit code.
pub fn run(opts: &SuiteOpts) -> i32 {
    let mut tap = Tap::start(SUITE_SEEDS.len());
    let skip_reason = match opts.mode {
        Mode::Run if sys::geteuid() != 0 => Some("needs root"),
        Mode::Run if !env::aufs_available() => {
            Some("aufs not in /proc/filesystems (aufs.ko not loaded)")
        }
        _ => None,
    };
    let mode = match opts.mode {
        Mode::Run => "run",
        Mode::Selfcheck => "selfcheck",
    };
    tap.diag(&format!(
        "aufs-difftest suite: mode={mode}, {} seeds x {} ops",
        SUITE_SEEDS.len(),
        SUITE_OPS
    ));
    let mut total_ops = 0usize;
    let mut total_expected = 0usize;
    for seed in SUITE_SEEDS {
        let desc = format!("difftest seed={seed} ops={SUITE_OPS}");
        if let Some(reason) = skip_reason {
            tap.skip(&desc, reason);
            continue;
        }
        let mut cfg = Config::new(opts.mode, seed, SUITE_OPS);
        cfg.workdir = opts.workdir.clone();
        cfg.bug = opts.bug;
        cfg.max_reruns = opts.max_reruns;
        cfg.xattr_ns = opts.xattr_ns;
        cfg.shrink = tap.fail < SUITE_SHRINK_FAILURES;
        let rep = runner::run_test(&cfg);
        total_ops += rep.executed;
        total_expected += rep.expected_diffs;
        if rep.passed {
            for l in &rep.lines {
                tap.diag(l);
            }
            tap.ok(&desc);
        } else {
            tap.not_ok(&desc, &rep.lines);
        }
    }
    tap.diag(&format!(
        "total operations: {total_ops} ({} seeds x {} ops planned), expected differences (EXDEV on directory rename): {total_expected}",
        SUITE_SEEDS.len(),
        SUITE_OPS
    ));
    tap.totals();
    tap.exit_code()
}
