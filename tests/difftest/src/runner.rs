//! Running one differential test: set up, apply the operations to both
//! sides, compare every outcome and the final trees, tear down; on failure,
//! minimise the operation list and build the report.

use crate::env::{self, Env, EnvSpec, Mode, XattrNs};
use crate::gen::Generator;
use crate::ops::{rename_undo_info, show_outcome, undo_rename, Bug, Op, Outcome};
use crate::shrink;
use crate::sys;
use crate::tree;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Default bound on re-runs spent minimising a failure.
pub const DEFAULT_MAX_RERUNS: usize = 200;
/// Wall-clock bound on minimising one failure (the test VM is slow).
pub const SHRINK_TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(180);

/// Everything one test run needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    pub seed: u64,
    pub ops: usize,
    /// Number of branches (default: 2..=5 from the seed).
    pub branches: Option<usize>,
    /// Work directory (default: /tmp/aufs-difftest for `run`, a fresh
    /// directory under $TMPDIR for `selfcheck`).
    pub workdir: Option<PathBuf>,
    pub keep: bool,
    pub bug: Option<Bug>,
    pub shrink: bool,
    pub max_reruns: usize,
    /// Replay only these indices of the generated sequence.
    pub only: Option<Vec<usize>>,
    /// Report per-operation statistics.
    pub verbose: bool,
    pub xattr_ns: XattrNs,
}

impl Config {
    pub fn new(mode: Mode, seed: u64, ops: usize) -> Config {
        Config {
            mode,
            seed,
            ops,
            branches: None,
            workdir: None,
            keep: false,
            bug: None,
            shrink: true,
            max_reruns: DEFAULT_MAX_RERUNS,
            only: None,
            verbose: false,
            xattr_ns: XattrNs::Auto,
        }
    }

    fn env_spec(&self) -> EnvSpec {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let workdir = self.workdir.clone().unwrap_or_else(|| match self.mode {
            Mode::Run => PathBuf::from(env::DEFAULT_RUN_WORKDIR),
            Mode::Selfcheck => std::env::temp_dir().join(format!(
                "aufs-difftest-selfcheck.{}.{}",
                sys::getpid(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            )),
        });
        EnvSpec {
            mode: self.mode,
            seed: self.seed,
            branches: self.branches,
            workdir,
            bug: self.bug,
            xattr_ns: self.xattr_ns,
        }
    }

    /// The command line reproducing this run (optionally only some ops).
    pub fn command_line(&self, only: Option<&[usize]>) -> String {
        let mut s = format!(
            "aufs-difftest {} --seed {} --ops {}",
            match self.mode {
                Mode::Run => "run",
                Mode::Selfcheck => "selfcheck",
            },
            self.seed,
            self.ops
        );
        if let Some(k) = self.branches {
            s += &format!(" --branches {k}");
        }
        if let Some(w) = &self.workdir {
            s += &format!(" --workdir {}", w.display());
        }
        match self.bug {
            Some(Bug::UnlinkC) => s += " --inject-bug",
            Some(b) => s += &format!(" --inject-bug={}", b.name()),
            None => {}
        }
        match self.xattr_ns {
            XattrNs::Auto => {}
            XattrNs::User => s += " --xattr-ns user",
            XattrNs::Trusted => s += " --xattr-ns trusted",
        }
        if let Some(list) = only {
            let l: Vec<String> = list.iter().map(|i| i.to_string()).collect();
            s += &format!(
                " --only {}",
                if l.is_empty() {
                    "none".to_string()
                } else {
                    l.join(",")
                }
            );
        }
        s
    }
}

/// What kind of failure, used to make sure minimisation keeps the same bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// An operation's outcomes differ (the operation kind).
    Mismatch(&'static str),
    FinalTree,
    Teardown,
    Setup,
    Internal,
}

#[derive(Clone, Debug)]
pub struct Failure {
    pub sig: Signature,
    /// Index (in the generated sequence) of the first mismatching op.
    pub index: Option<usize>,
    pub lines: Vec<String>,
}

/// One execution (setup, ops, final check, teardown).
pub struct Execution {
    /// The operations executed, with their index in the generated sequence.
    pub ops: Vec<(usize, Op)>,
    /// Directory renames where the union said EXDEV and the reference
    /// succeeded (undone on the reference).
    pub expected_diffs: usize,
    pub failure: Option<Failure>,
    pub layout: String,
    pub mount_data: String,
    pub xattr_prefix: String,
    /// Per operation kind: (successes, errors by errno name) on the reference.
    pub stats: BTreeMap<&'static str, (usize, BTreeMap<String, usize>)>,
}

enum Source<'a> {
    Generate(usize),
    Replay(&'a [(usize, Op)]),
}

enum Step {
    Same(Outcome),
    Expected,
    Mismatch(Outcome, Outcome),
    Internal(String),
}

/// Applies one operation to both sides and classifies the result.
fn step(env: &Env, op: &Op) -> Step {
    let undo = rename_undo_info(&env.reference, op);
    let u = env.union.apply(op);
    let r = env.reference.apply(op);
    if u == r {
        return Step::Same(r);
    }
    // Deliberate difference: aufs refuses to rename a directory that has
    // children on lower branches with EXDEV (callers fall back to copying).
    if u == Err(libc::EXDEV) && r.is_ok() {
        if let Some(undo) = undo {
            return match undo_rename(&undo) {
                Ok(()) => Step::Expected,
                Err(msg) => Step::Internal(msg),
            };
        }
    }
    Step::Mismatch(u, r)
}

fn execute(spec: &EnvSpec, source: Source, keep: bool) -> Execution {
    sys::umask(0o022);
    let mut ex = Execution {
        ops: Vec::new(),
        expected_diffs: 0,
        failure: None,
        layout: String::new(),
        mount_data: String::new(),
        xattr_prefix: String::new(),
        stats: BTreeMap::new(),
    };
    let mut env = match Env::setup(spec) {
        Ok(e) => e,
        Err(msg) => {
            ex.failure = Some(Failure {
                sig: Signature::Setup,
                index: None,
                lines: vec![format!("setup failed: {msg}")],
            });
            return ex;
        }
    };
    ex.layout = env::describe_layout(&env.branches);
    ex.mount_data = env.mount_data.clone();
    ex.xattr_prefix = env.xattr_prefix.clone();

    let count = match &source {
        Source::Generate(n) => *n,
        Source::Replay(list) => list.len(),
    };
    let mut gen = Generator::new(spec.seed, &env.xattr_prefix);
    let mut scan = match source {
        Source::Generate(_) => tree::scan(&env.reference.root),
        Source::Replay(_) => Vec::new(),
    };
    for i in 0..count {
        let (idx, op) = match &source {
            Source::Generate(_) => (i, gen.next(&scan)),
            Source::Replay(list) => list[i].clone(),
        };
        ex.ops.push((idx, op.clone()));
        // Rescan the reference (for generating the next op) only when the op
        // may have changed names, types or sizes.  Failed data operations
        // may still have had an effect (O_CREAT before a failed write).
        let mut rescan = false;
        match step(&env, &op) {
            Step::Same(r) => {
                let data_op = matches!(
                    op,
                    Op::Create { .. } | Op::Pwrite { .. } | Op::Append { .. }
                );
                rescan = op.mutates_tree() && (r.is_ok() || data_op);
                let e = ex.stats.entry(op.kind()).or_default();
                match r {
                    Ok(_) => e.0 += 1,
                    Err(errno) => *e.1.entry(sys::errno_name(errno)).or_default() += 1,
                }
            }
            Step::Expected => ex.expected_diffs += 1,
            Step::Mismatch(u, r) => {
                ex.failure = Some(Failure {
                    sig: Signature::Mismatch(op.kind()),
                    index: Some(idx),
                    lines: vec![
                        format!("first mismatch at op #{idx}: {op}"),
                        format!("  union:     {}", show_outcome(&u)),
                        format!("  reference: {}", show_outcome(&r)),
                    ],
                });
                break;
            }
            Step::Internal(msg) => {
                ex.failure = Some(Failure {
                    sig: Signature::Internal,
                    index: Some(idx),
                    lines: vec![format!("op #{idx}: {op}: {msg}")],
                });
                break;
            }
        }
        if matches!(source, Source::Generate(_)) && rescan {
            scan = tree::scan(&env.reference.root);
        }
    }

    if ex.failure.is_none() {
        let diffs = tree::compare(
            &tree::snapshot(&env.union.root),
            &tree::snapshot(&env.reference.root),
        );
        if !diffs.is_empty() {
            let mut lines = vec![format!("final trees differ after {} ops:", ex.ops.len())];
            lines.extend(diffs.into_iter().take(40).map(|d| format!("  {d}")));
            ex.failure = Some(Failure {
                sig: Signature::FinalTree,
                index: None,
                lines,
            });
        }
    }

    if let Err(msg) = env.teardown(keep) {
        let line = format!("teardown failed: {msg}");
        match &mut ex.failure {
            Some(f) => f.lines.push(line),
            None => {
                ex.failure = Some(Failure {
                    sig: Signature::Teardown,
                    index: None,
                    lines: vec![line],
                })
            }
        }
    }
    ex
}

/// The outcome of a whole test, with a printable report.
pub struct TestReport {
    pub passed: bool,
    pub lines: Vec<String>,
    /// Operations executed in the main run.
    pub executed: usize,
    pub expected_diffs: usize,
    /// Length of the minimised reproducer, when a failure was minimised.
    pub minimized_len: Option<usize>,
    pub minimized: Option<Vec<(usize, Op)>>,
}

/// Runs the test described by `cfg` (including minimisation on failure).
pub fn run_test(cfg: &Config) -> TestReport {
    let spec = cfg.env_spec();
    let started = std::time::Instant::now();
    let mode = match cfg.mode {
        Mode::Run => "run",
        Mode::Selfcheck => "selfcheck",
    };

    // --only: regenerate the sequence with a full run, then replay the subset.
    let (ex, replayed) = if let Some(only) = &cfg.only {
        let full = execute(&spec, Source::Generate(cfg.ops), false);
        if let Some(Failure {
            sig: Signature::Setup,
            lines,
            ..
        }) = &full.failure
        {
            return TestReport {
                passed: false,
                lines: lines.clone(),
                executed: 0,
                expected_diffs: 0,
                minimized_len: None,
                minimized: None,
            };
        }
        let subset: Vec<(usize, Op)> = full
            .ops
            .iter()
            .filter(|(i, _)| only.contains(i))
            .cloned()
            .collect();
        let missing: Vec<&usize> = only
            .iter()
            .filter(|i| !subset.iter().any(|(j, _)| j == *i))
            .collect();
        if !missing.is_empty() {
            return TestReport {
                passed: false,
                lines: vec![format!(
                    "--only: ops {:?} do not exist (the generated run executed {} ops)",
                    missing,
                    full.ops.len()
                )],
                executed: 0,
                expected_diffs: 0,
                minimized_len: None,
                minimized: None,
            };
        }
        (execute(&spec, Source::Replay(&subset), cfg.keep), true)
    } else {
        (execute(&spec, Source::Generate(cfg.ops), cfg.keep), false)
    };

    let mut lines = Vec::new();
    let head = format!(
        "seed={} ops={} mode={} branches=[{}] xattrs={}*",
        cfg.seed, cfg.ops, mode, ex.layout, ex.xattr_prefix
    );
    let Some(failure) = ex.failure.clone() else {
        lines.push(format!(
            "PASS {head}: {} ops{} identical, expected differences: {} (EXDEV on directory rename), {:.1}s",
            ex.ops.len(),
            if replayed { " (replayed subset)" } else { "" },
            ex.expected_diffs,
            started.elapsed().as_secs_f64()
        ));
        if cfg.verbose {
            lines.extend(stats_lines(&ex.stats));
        }
        if cfg.keep {
            lines.push(format!("kept: {}", spec.workdir.display()));
        }
        return TestReport {
            passed: true,
            lines,
            executed: ex.ops.len(),
            expected_diffs: ex.expected_diffs,
            minimized_len: None,
            minimized: None,
        };
    };

    lines.push(format!("FAIL {head}"));
    if cfg.mode == Mode::Run && !ex.mount_data.is_empty() {
        lines.push(format!("mount data: {}", ex.mount_data));
    }
    lines.push(format!(
        "{} ops executed, {} expected differences before the failure",
        ex.ops.len(),
        ex.expected_diffs
    ));
    lines.extend(failure.lines.iter().cloned());

    let mut report = TestReport {
        passed: false,
        lines: Vec::new(),
        executed: ex.ops.len(),
        expected_diffs: ex.expected_diffs,
        minimized_len: None,
        minimized: None,
    };
    if failure.sig != Signature::Setup && cfg.shrink && !replayed {
        let sig = failure.sig.clone();
        let deadline = std::time::Instant::now() + SHRINK_TIME_BUDGET;
        let shrunk = shrink::shrink(ex.ops.clone(), cfg.max_reruns, Some(deadline), |cand| {
            let r = execute(&spec, Source::Replay(cand), false);
            matches!(r.failure, Some(f) if f.sig == sig)
        });
        // Show how the minimised sequence fails (and keep its end state if asked).
        let again = execute(&spec, Source::Replay(&shrunk.items), cfg.keep);
        lines.push(format!(
            "minimized reproducer: {} of {} ops ({} re-runs{}):",
            shrunk.items.len(),
            ex.ops.len(),
            shrunk.runs,
            if shrunk.budget_exhausted {
                ", re-run or time budget exhausted"
            } else {
                ""
            }
        ));
        for (i, op) in &shrunk.items {
            lines.push(format!("  #{i} {op}"));
        }
        match &again.failure {
            Some(f) => {
                lines.push("which fails with:".to_string());
                lines.extend(f.lines.iter().map(|l| format!("  {l}")));
            }
            None => lines.push("(the minimized sequence did not fail again: flaky?)".to_string()),
        }
        let idx: Vec<usize> = shrunk.items.iter().map(|(i, _)| *i).collect();
        lines.push(format!("reproduce:           {}", cfg.command_line(None)));
        lines.push(format!(
            "reproduce minimized: {}",
            cfg.command_line(Some(&idx))
        ));
        report.minimized_len = Some(shrunk.items.len());
        report.minimized = Some(shrunk.items);
    } else {
        lines.push(format!(
            "reproduce: {}",
            cfg.command_line(cfg.only.as_deref())
        ));
    }
    if cfg.keep {
        lines.push(format!("kept: {}", spec.workdir.display()));
    }
    report.lines = lines;
    report
}

/// "kind: ok=N ENOENT=M ..." lines, one per operation kind.
fn stats_lines(stats: &BTreeMap<&'static str, (usize, BTreeMap<String, usize>)>) -> Vec<String> {
    stats
        .iter()
        .map(|(k, (ok, errs))| {
            let e: Vec<String> = errs.iter().map(|(n, c)| format!("{n}={c}")).collect();
            format!("  {k:<12} ok={ok:<5} {}", e.join(" "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selfcheck(seed: u64, ops: usize) -> Config {
        Config::new(Mode::Selfcheck, seed, ops)
    }

    #[test]
    fn selfcheck_passes() {
        for seed in [1, 2, 3, 17] {
            let rep = run_test(&selfcheck(seed, 400));
            assert!(
                rep.passed,
                "selfcheck seed {seed} failed:\n{}",
                rep.lines.join("\n")
            );
            assert_eq!(rep.executed, 400);
            assert_eq!(rep.expected_diffs, 0);
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let run = || {
            let spec = selfcheck(5, 300).env_spec();
            execute(&spec, Source::Generate(300), false).ops
        };
        let (a, b) = (run(), run());
        assert_eq!(a.len(), 300);
        assert_eq!(a, b);
        // Replaying the recorded ops gives a passing run too.
        let spec = selfcheck(5, 300).env_spec();
        assert!(execute(&spec, Source::Replay(&a), false).failure.is_none());
    }

    #[test]
    fn exdev_on_directory_rename_is_an_expected_difference() {
        // The simulated union refuses every directory rename with EXDEV; the
        // reference must undo its renames and stay in sync to the end.
        let mut cfg = selfcheck(1, 1500);
        cfg.bug = Some(Bug::DirRenameExdev);
        let rep = run_test(&cfg);
        assert!(rep.passed, "{}", rep.lines.join("\n"));
        assert!(
            rep.expected_diffs > 0,
            "no directory rename succeeded in 1500 ops"
        );
    }

    #[test]
    fn injected_bug_is_found_and_minimized() {
        // Find a seed where the bug shows up late, so that minimisation has
        // something to remove.
        let mut found = None;
        for seed in 1..40 {
            let mut cfg = selfcheck(seed, 600);
            cfg.bug = Some(Bug::UnlinkC);
            cfg.shrink = false;
            let rep = run_test(&cfg);
            assert!(
                !rep.lines.iter().any(|l| l.contains("setup failed")),
                "{}",
                rep.lines.join("\n")
            );
            if !rep.passed && rep.executed >= 20 {
                found = Some((seed, rep.executed));
                break;
            }
        }
        let (seed, executed) = found.expect("the injected bug never triggered after op 20");
        let mut cfg = selfcheck(seed, 600);
        cfg.bug = Some(Bug::UnlinkC);
        let rep = run_test(&cfg);
        let text = rep.lines.join("\n");
        assert!(!rep.passed);
        assert!(text.contains(&format!("seed={seed}")), "{text}");
        assert!(text.contains("first mismatch at op #"), "{text}");
        assert!(text.contains("union:     Err(EBUSY)"), "{text}");
        let len = rep.minimized_len.expect("not minimized");
        assert!(
            (1..=2).contains(&len),
            "minimized to {len} of {executed} ops:\n{text}"
        );
        let min = rep.minimized.unwrap();
        assert!(
            matches!(&min.last().unwrap().1, Op::Unlink { path } if path.ends_with('c')),
            "{text}"
        );
        assert!(text.contains("which fails with:"), "{text}");
        assert!(text.contains("--inject-bug --only "), "{text}");

        // The printed --only reproducer fails the same way.
        let mut again = cfg.clone();
        again.only = Some(min.iter().map(|(i, _)| *i).collect());
        let rep2 = run_test(&again);
        assert!(!rep2.passed);
        assert!(rep2.lines.join("\n").contains("Err(EBUSY)"));
    }
}
