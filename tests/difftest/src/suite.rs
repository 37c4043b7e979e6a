//! The fixed suite: a list of seeds run with a fixed number of operations
//! each, reported as kselftest TAP.

use crate::env::{self, Mode};
use crate::runner::{self, Config, TestReport};
use crate::sys;
use crate::tap::Tap;
use crate::watch;
use crate::wire;
use std::time::Instant;

/// Seeds of the suite (40 seeds x 500 ops = 20,000 operations).
pub const SUITE_SEEDS: [u64; 40] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
    27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
];
/// Operations per seed.
pub const SUITE_OPS: usize = 500;
/// Seeds run as the unprivileged test user (privs.rs): every fourth.
pub fn suite_unpriv(seed: u64) -> bool {
    seed.is_multiple_of(4)
}
/// Only the first failures are minimised (each minimisation costs up to
/// `max_reruns` re-runs, and at most SUITE_SHRINK_TIME); later ones report
/// the plain reproducer.
pub const SUITE_SHRINK_FAILURES: usize = 3;
pub const SUITE_SHRINK_TIME: std::time::Duration = std::time::Duration::from_secs(75);
/// The suite must end well within the guest suite's per-program timeout
/// (600 s) even when seeds fail or hang: no minimisation is started after
/// SUITE_SHRINK_UNTIL, no seed after SUITE_BUDGET (the rest are reported
/// as not run).  A passing suite takes about a third of the budget.
pub const SUITE_SHRINK_UNTIL: std::time::Duration = std::time::Duration::from_secs(300);
pub const SUITE_BUDGET: std::time::Duration = std::time::Duration::from_secs(480);

/// The two limits above, scaled to the guest suite's per-program timeout
/// when it says a different one (AUFS_TEST_TIMEOUT: `make test-debug` gives
/// its slow debug kernel more time): (shrink until, budget).
pub fn suite_limits() -> (std::time::Duration, std::time::Duration) {
    let t = std::env::var("AUFS_TEST_TIMEOUT").ok().and_then(|v| v.parse::<u64>().ok());
    match t {
        Some(t) if t > 600 => (
            std::time::Duration::from_secs(t / 2),
            std::time::Duration::from_secs(t * 4 / 5),
        ),
        _ => (SUITE_SHRINK_UNTIL, SUITE_BUDGET),
    }
}

/// Options of the suite.
#[derive(Clone, Debug)]
pub struct SuiteOpts {
    pub mode: Mode,
    pub workdir: Option<std::path::PathBuf>,
    pub bug: Option<crate::ops::Bug>,
    pub max_reruns: usize,
    pub xattr_ns: env::XattrNs,
}

/// Runs one seed in a forked child, watching its progress (watch.rs).
/// `Err`: the child made no progress for [`watch::STUCK_AFTER`]; the text
/// says where it is stuck.  The child is then left behind.
fn run_watched(cfg: &Config) -> Result<TestReport, String> {
    let internal = |msg: String| TestReport {
        passed: false,
        lines: vec![msg],
        executed: 0,
        expected_diffs: 0,
        enotty: 0,
        minimized_len: None,
        minimized: None,
    };
    if !watch::init() {
        return Ok(runner::run_test(cfg));
    }
    let (rd, wr) = match sys::pipe() {
        Ok(p) => p,
        Err(e) => return Ok(internal(format!("pipe: {}", sys::errno_name(e)))),
    };
    watch::note(&format!("seed {}: starting", cfg.seed));
    // SAFETY: the child runs the test (this crate's code only), writes the
    // report to the pipe and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Ok(internal(format!("fork: {}", sys::errno_name(sys::errno()))));
    }
    if pid == 0 {
        drop(rd);
        let rep = std::panic::catch_unwind(|| runner::run_test(cfg))
            .unwrap_or_else(|_| internal("the test panicked".into()));
        let mut e = wire::Enc::default();
        rep.encode(&mut e);
        let _ = sys::write_all(&wr, &e.buf);
        // SAFETY: leaving the forked child at once.
        unsafe { libc::_exit(0) }
    }
    drop(wr);
    let mut data = Vec::new();
    let mut last_beat = watch::beat();
    let mut last_change = Instant::now();
    loop {
        let mut pfd = libc::pollfd {
            fd: rd.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 1000) };
        if n > 0 {
            let mut buf = [0u8; 65536];
            // SAFETY: buf is writable for its length.
            let r =
                unsafe { libc::read(rd.raw(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if r > 0 {
                data.extend_from_slice(&buf[..r as usize]);
                continue;
            }
            if r == 0 {
                break;
            }
            let e = sys::errno();
            if e != libc::EINTR && e != libc::EAGAIN {
                return Ok(internal(format!(
                    "reading from the child: {}",
                    sys::errno_name(e)
                )));
            }
            continue;
        }
        let b = watch::beat();
        if b != last_beat {
            last_beat = b;
            last_change = Instant::now();
        } else if last_change.elapsed() >= watch::STUCK_AFTER {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Err(watch::last());
        }
    }
    let end = sys::wait_child(pid);
    match (end, TestReport::decode(&mut wire::Dec::new(&data))) {
        (Ok(sys::ChildEnd::Exited(0)), Ok(rep)) => Ok(rep),
        (end, _) => Ok(internal(format!(
            "seed {}: the test process ended with {end:?}",
            cfg.seed
        ))),
    }
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
    let mut total_enotty = 0usize;
    // After a stuck seed its work directory stays busy: go on in another.
    let mut stuck = 0usize;
    let mut minimized = 0usize;
    let (shrink_until, budget) = suite_limits();
    let started = Instant::now();
    for seed in SUITE_SEEDS {
        let unpriv = suite_unpriv(seed);
        let desc = format!(
            "difftest seed={seed} ops={SUITE_OPS}{}",
            if unpriv { " unpriv" } else { "" }
        );
        if let Some(reason) = skip_reason {
            tap.skip(&desc, reason);
            continue;
        }
        if started.elapsed() >= budget {
            tap.not_ok(
                &desc,
                &[format!(
                    "not run: the suite's time budget of {} s is spent (earlier seeds failed, hung or were slow)",
                    budget.as_secs()
                )],
            );
            continue;
        }
        let mut cfg = Config::new(opts.mode, seed, SUITE_OPS);
        cfg.workdir = opts.workdir.clone();
        if stuck > 0 {
            let base = cfg
                .workdir
                .clone()
                .unwrap_or_else(|| env::DEFAULT_RUN_WORKDIR.into());
            let mut name = base.into_os_string();
            name.push(format!(".{stuck}"));
            cfg.workdir = Some(name.into());
        }
        cfg.bug = opts.bug;
        cfg.max_reruns = opts.max_reruns;
        cfg.xattr_ns = opts.xattr_ns;
        cfg.unpriv = unpriv;
        cfg.shrink = minimized < SUITE_SHRINK_FAILURES && started.elapsed() < shrink_until;
        cfg.shrink_time = SUITE_SHRINK_TIME;
        let rep = match run_watched(&cfg) {
            Ok(rep) => rep,
            Err(last) => {
                stuck += 1;
                tap.not_ok(
                    &desc,
                    &[
                        format!(
                            "STUCK: no progress for {} s (a blocked system call; the process is left behind)",
                            watch::STUCK_AFTER.as_secs()
                        ),
                        format!("last step started: {last}"),
                        format!("reproduce: {}", cfg.command_line(None)),
                    ],
                );
                continue;
            }
        };
        minimized += rep.minimized_len.is_some() as usize;
        total_ops += rep.executed;
        total_expected += rep.expected_diffs;
        total_enotty += rep.enotty;
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
        "total operations: {total_ops} ({} seeds x {} ops planned), expected differences: {total_expected} (EXDEV on directory rename) + {total_enotty} (ENOTTY for the flag ioctls)",
        SUITE_SEEDS.len(),
        SUITE_OPS
    ));
    tap.totals();
    tap.exit_code()
}
