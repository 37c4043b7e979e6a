//! Running one differential test: set up, apply the operations to both
//! sides, compare every outcome and the final trees, tear down; on failure,
//! minimise the operation list and build the report.

use crate::env::{self, Env, EnvSpec, Mode, XattrNs};
use crate::gen::Generator;
use crate::ops::{rename_undo_info, show_outcome, undo_rename, Bug, Op, Outcome, Val};
use crate::privs;
use crate::shrink;
use crate::sys;
use crate::tree;
use crate::watch;
use crate::wire;
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
    /// Run the operations as the unprivileged test user (privs.rs).
    pub unpriv: bool,
    /// Wall-clock bound on minimising a failure.
    pub shrink_time: std::time::Duration,
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
            unpriv: false,
            shrink_time: SHRINK_TIME_BUDGET,
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
            unpriv: self.unpriv,
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
        if self.unpriv {
            s += " --unpriv";
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
    /// The trees differ at a checkpoint or at the end; the stage: "live"
    /// (as the operations left them), "after drop_caches", "after remount".
    Tree(&'static str),
    /// Unmounting or mounting the union again failed.
    Remount,
    Teardown,
    Setup,
    Internal,
}

/// Stages of a tree comparison (see [`Signature::Tree`]).
pub const STAGES: &[&str] = &["live", "after drop_caches", "after remount"];

#[derive(Clone, Debug)]
pub struct Failure {
    pub sig: Signature,
    /// Index (in the generated sequence) of the first mismatching op.
    pub index: Option<usize>,
    pub lines: Vec<String>,
}

/// A point where the trees are compared, something is done to the union
/// that must not change what it shows, and the trees are compared again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// `echo N > /proc/sys/vm/drop_caches` (2: dentries and inodes; 3:
    /// also the page cache).
    DropCaches(u32),
    /// Unmount, then mount again from the same branches and options.
    Remount,
}

impl Checkpoint {
    pub fn describe(self) -> String {
        match self {
            Checkpoint::DropCaches(n) => format!("echo {n} > /proc/sys/vm/drop_caches"),
            Checkpoint::Remount => "umount + mount again".to_string(),
        }
    }
    fn stage(self) -> &'static str {
        match self {
            Checkpoint::DropCaches(_) => "after drop_caches",
            Checkpoint::Remount => "after remount",
        }
    }
}

/// Mid-run checkpoints per 1000 operations: drop_caches 2, drop_caches 3,
/// remount.
pub const CHECKPOINT_RATES: (u64, u64, u64) = (6, 2, 2);

/// The checkpoint, if any, after the operation with index `idx` (in the
/// generated sequence) of `seed`: a function of both only, so that a
/// replayed subset has the checkpoints of the operations it keeps.
pub fn checkpoint_after(seed: u64, idx: usize) -> Option<Checkpoint> {
    let (d2, d3, rm) = CHECKPOINT_RATES;
    let h = tree::fnv(format!("checkpoint:{seed}:{idx}").as_bytes()) % 1000;
    if h < d2 {
        Some(Checkpoint::DropCaches(2))
    } else if h < d2 + d3 {
        Some(Checkpoint::DropCaches(3))
    } else if h < d2 + d3 + rm {
        Some(Checkpoint::Remount)
    } else {
        None
    }
}

/// The checkpoints at the end of every run: drop the dentry and inode
/// caches, compare, remount, compare.
pub const FINAL_CHECKPOINTS: &[Checkpoint] = &[Checkpoint::DropCaches(2), Checkpoint::Remount];

/// Where the time of an execution goes (seconds), for tuning: set-up,
/// operations on the union, on the reference, generation (scans),
/// tree comparisons, drop_caches/remount, teardown.
pub const TIME_PARTS: [&str; 7] = [
    "setup",
    "union",
    "ref",
    "gen",
    "compare",
    "drop/remount",
    "teardown",
];

thread_local! {
    static TIMES: std::cell::Cell<[f64; 7]> = const { std::cell::Cell::new([0.0; 7]) };
}

/// Runs `f`, adding its wall time to part `i` of [`TIME_PARTS`].
fn timed<T>(i: usize, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let r = f();
    TIMES.with(|c| {
        let mut v = c.get();
        v[i] += t.elapsed().as_secs_f64();
        c.set(v);
    });
    r
}

/// One execution (setup, ops, final check, teardown).
pub struct Execution {
    /// The operations executed, with their index in the generated sequence.
    pub ops: Vec<(usize, Op)>,
    /// Directory renames where the union said EXDEV and the reference
    /// succeeded (undone on the reference), and renames between two names
    /// of one immutable file (Known::SameFileFlags).
    pub expected_diffs: usize,
    /// Flag ioctls the union answered with ENOTTY (undone on the reference).
    pub enotty: usize,
    /// Checkpoints passed (mid-run and final).
    pub checkpoints: usize,
    /// Seconds spent, by [`TIME_PARTS`].
    pub times: [f64; 7],
    /// The reference's lower hard links: at the start, intact ones, names
    /// broken out by copy-up.
    pub links: [usize; 3],
    pub failure: Option<Failure>,
    pub layout: String,
    pub mount_data: String,
    pub xattr_prefix: String,
    /// Per operation kind: (successes, errors by errno name) on the reference.
    pub stats: BTreeMap<&'static str, (usize, BTreeMap<String, usize>)>,
}

impl Execution {
    fn new() -> Execution {
        Execution {
            ops: Vec::new(),
            expected_diffs: 0,
            enotty: 0,
            checkpoints: 0,
            times: [0.0; 7],
            links: [0; 3],
            failure: None,
            layout: String::new(),
            mount_data: String::new(),
            xattr_prefix: String::new(),
            stats: BTreeMap::new(),
        }
    }

    fn internal(msg: String) -> Execution {
        let mut ex = Execution::new();
        ex.failure = Some(Failure {
            sig: Signature::Internal,
            index: None,
            lines: vec![msg],
        });
        ex
    }
}

enum Source<'a> {
    Generate(usize),
    Replay(&'a [(usize, Op)]),
}

/// A deliberate, accepted difference.
enum Known {
    /// EXDEV on a directory rename.
    Exdev,
    /// ENOTTY from the union for FS_IOC_GETFLAGS/SETFLAGS.
    Enotty,
    /// EPERM renaming an immutable or append-only file onto another name
    /// of itself (a lower hard link): the union shows the two names as two
    /// objects, so the VFS checks the flags where, for one inode, it would
    /// have returned 0 at once.
    SameFileFlags,
}

enum Step {
    Same(Outcome),
    Expected(Known),
    Mismatch(Outcome, Outcome),
    Internal(String),
}

/// stat of a name of a tainted lower hard link: st_nlink is not compared
/// (model.rs).
fn mask_nlink(env: &Env, op: &Op, u: &mut Outcome, r: &mut Outcome) {
    let Op::Stat { path, follow } = op else {
        return;
    };
    if env.reference.links.tainted.is_empty() {
        return;
    }
    let p = env.reference.abs(path);
    let st = privs::as_root(|| {
        if *follow {
            sys::stat(&p)
        } else {
            sys::lstat(&p)
        }
    });
    if !matches!(st, Ok(st) if env.reference.links.is_tainted(st.st_ino)) {
        return;
    }
    for o in [u, r] {
        if let Ok(Val::Stat(s)) = o {
            s.nlink = None;
        }
    }
}

/// A rename whose source and target are, in the reference, two names of
/// one immutable or append-only file (the reference did nothing).
fn same_protected_file(env: &Env, op: &Op) -> bool {
    let Op::Rename { from, to, .. } = op else {
        return false;
    };
    let (f, t) = (env.reference.abs(from), env.reference.abs(to));
    privs::as_root(|| match (sys::lstat(&f), sys::lstat(&t)) {
        (Ok(a), Ok(b)) if a.st_ino == b.st_ino && a.st_dev == b.st_dev => {
            sys::get_flags_at(&f).is_ok_and(|fl| fl & (sys::FS_IMMUTABLE_FL | sys::FS_APPEND_FL) != 0)
        }
        _ => false,
    })
}

/// Applies one operation to both sides and classifies the result.
fn step(env: &mut Env, op: &Op) -> Step {
    let undo = privs::as_root(|| rename_undo_info(&env.reference, op));
    let old_flags = match op {
        Op::SetFlags { path, .. } => {
            let p = env.reference.abs(path);
            privs::as_root(|| sys::get_flags_at(&p).ok())
        }
        _ => None,
    };
    let mut u = match timed(1, || env.union.apply(op)) {
        Ok(o) => o,
        Err(m) => return Step::Internal(m),
    };
    let mut r = match timed(2, || env.reference.apply(op)) {
        Ok(o) => o,
        Err(m) => return Step::Internal(m),
    };
    mask_nlink(env, op, &mut u, &mut r);
    if u == r {
        // Make the link model's changes final now (not at the next
        // operation), so that the tree is as it will stay.
        return match env.reference.settle(true).and(env.union.settle(true)) {
            Ok(()) => Step::Same(r),
            Err(msg) => Step::Internal(msg),
        };
    }
    // Deliberate difference: aufs refuses to rename a directory that has
    // children on lower branches with EXDEV (callers fall back to copying).
    if u == Err(libc::EXDEV) && r.is_ok() {
        if let Some(undo) = undo {
            let res =
                privs::as_root(|| undo_rename(&undo)).and_then(|()| env.reference.settle(false));
            return match res {
                Ok(()) => Step::Expected(Known::Exdev),
                Err(msg) => Step::Internal(msg),
            };
        }
    }
    if u == Err(libc::EPERM) && r.is_ok() && same_protected_file(env, op) {
        return match env.reference.settle(true) {
            Ok(()) => Step::Expected(Known::SameFileFlags),
            Err(msg) => Step::Internal(msg),
        };
    }
    // Known difference: the union has no FS_IOC_GETFLAGS/SETFLAGS (the
    // ioctl itself; what the flags do is compared like everything else).
    // The reference's change is undone.
    if matches!(op, Op::GetFlags { .. } | Op::SetFlags { .. })
        && u == Ok(Val::Flags(Err(libc::ENOTTY)))
        && matches!(r, Ok(Val::Flags(_)))
    {
        if let (Op::SetFlags { path, .. }, Ok(Val::Flags(Ok(_)))) = (op, &r) {
            if let Err(msg) = env.reference.settle(false) {
                return Step::Internal(msg);
            }
            if let Some(old) = old_flags {
                let p = env.reference.abs(path);
                if let Err(e) = privs::as_root(|| sys::set_flags_at(&p, old)) {
                    return Step::Internal(format!(
                        "restoring the flags of {}: {}",
                        p.display(),
                        sys::errno_name(e)
                    ));
                }
            }
        }
        return Step::Expected(Known::Enotty);
    }
    Step::Mismatch(u, r)
}

/// Compares the two trees: entries, link counts and identity, inode flags.
/// `reference`: the reference's snapshot when it was taken since the last
/// operation (it does not change at checkpoints), else taken and kept there.
fn compare_trees(
    env: &Env,
    stage: &'static str,
    context: &str,
    reference: &mut Option<tree::Tree>,
) -> Result<(), Failure> {
    let (u, r) = timed(4, || {
        privs::as_root(|| {
            let u = tree::snapshot(&env.union.root);
            let r = reference.get_or_insert_with(|| tree::snapshot(&env.reference.root));
            (u, &*r)
        })
    });
    let mut diffs = tree::compare(&u, r);
    diffs.extend(tree::compare_links(&u, r, &env.reference.links.tainted));
    diffs.extend(tree::compare_flags(&u, r));
    if diffs.is_empty() {
        return Ok(());
    }
    let mut lines = vec![format!("trees differ {stage} ({context}):")];
    lines.extend(diffs.into_iter().take(40).map(|d| format!("  {d}")));
    Err(Failure {
        sig: Signature::Tree(stage),
        index: None,
        lines,
    })
}

/// Do `cp`, then compare the trees.  (The runs's end compares them
/// before the first checkpoint too; mid-run checkpoints do not, to save
/// the time of a walk through the union: the operations since the last
/// comparison are compared one by one anyway.)
fn checkpoint(
    env: &mut Env,
    cp: Checkpoint,
    context: &str,
    reference: &mut Option<tree::Tree>,
) -> Result<(), Failure> {
    let done = timed(5, || match cp {
        Checkpoint::DropCaches(n) => env.drop_caches(n),
        Checkpoint::Remount => env.remount(),
    });
    if let Err(msg) = done {
        return Err(Failure {
            sig: if cp == Checkpoint::Remount {
                Signature::Remount
            } else {
                Signature::Internal
            },
            index: None,
            lines: vec![format!("{context}: {}: {msg}", cp.describe())],
        });
    }
    compare_trees(
        env,
        cp.stage(),
        &format!("{context}, after {}", cp.describe()),
        reference,
    )
}

/// The paths of append-only/immutable files at the start (for the
/// generator).
fn flagged_paths(root: &std::path::Path) -> Vec<String> {
    privs::as_root(|| tree::snapshot(root))
        .flags
        .into_iter()
        .filter(|(p, f)| p != "." && f & (sys::FS_APPEND_FL | sys::FS_IMMUTABLE_FL) != 0)
        .map(|(p, _)| p)
        .collect()
}

/// Runs one execution: in a forked child that becomes the test user for an
/// unprivileged seed (when root), else in this process.
fn execute(spec: &EnvSpec, source: Source, keep: bool) -> Execution {
    if spec.unpriv && sys::geteuid() == 0 && !privs::dropped() {
        return execute_in_child(spec, source, keep);
    }
    execute_here(spec, source, keep)
}

fn execute_in_child(spec: &EnvSpec, source: Source, keep: bool) -> Execution {
    let (rd, wr) = match sys::pipe() {
        Ok(p) => p,
        Err(e) => return Execution::internal(format!("pipe: {}", sys::errno_name(e))),
    };
    // SAFETY: the child only runs this crate's code (no locks held by other
    // threads are needed: it allocates, makes syscalls and writes to a pipe)
    // and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Execution::internal(format!("fork: {}", sys::errno_name(sys::errno())));
    }
    if pid == 0 {
        drop(rd);
        let ex = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            execute_here(spec, source, keep)
        }))
        .unwrap_or_else(|_| Execution::internal("the unprivileged child panicked".into()));
        let mut e = wire::Enc::default();
        encode_execution(&mut e, &ex);
        let _ = sys::write_all(&wr, &e.buf);
        // SAFETY: leaving the forked child without running the parent's
        // exit handlers or test harness.
        unsafe { libc::_exit(0) }
    }
    drop(wr);
    let data = sys::read_to_end(&rd);
    let end = sys::wait_child(pid);
    let data = match data {
        Ok(d) => d,
        Err(e) => {
            return Execution::internal(format!("reading from the child: {}", sys::errno_name(e)))
        }
    };
    match (end, decode_execution(&data)) {
        (Ok(sys::ChildEnd::Exited(0)), Ok(ex)) => ex,
        (end, _) => Execution::internal(format!(
            "the unprivileged child ended with {end:?} after sending {} bytes",
            data.len()
        )),
    }
}

fn execute_here(spec: &EnvSpec, source: Source, keep: bool) -> Execution {
    sys::umask(0o022);
    let mut ex = Execution::new();
    let who = format!(
        "seed {}{}",
        spec.seed,
        if spec.unpriv { " (unprivileged)" } else { "" }
    );
    watch::note(&format!("{who}: setting up"));
    TIMES.with(|c| c.set([0.0; 7]));
    let mut env = match timed(0, || Env::setup(spec)) {
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
    if let Some(n) = env.deep {
        ex.layout += &format!("] deep=[{n} levels");
    }
    ex.mount_data = env.mount_data.clone();
    ex.xattr_prefix = env.xattr_prefix.clone();

    let count = match &source {
        Source::Generate(n) => *n,
        Source::Replay(list) => list.len(),
    };
    let mut gen = Generator::new(spec.seed, &env.xattr_prefix, env.xattr_alt.as_deref());
    let ref_root = env.reference.root.clone();
    let mut scan = match source {
        Source::Generate(_) => {
            gen.set_flagged(flagged_paths(&ref_root));
            privs::as_root(|| tree::scan(&ref_root))
        }
        Source::Replay(_) => Vec::new(),
    };
    if spec.unpriv && sys::geteuid() == 0 {
        // Only reached in the forked child (see `execute`).
        if let Err(e) = privs::drop_to(privs::TEST_UID, privs::TEST_GID) {
            ex.failure = Some(Failure {
                sig: Signature::Setup,
                index: None,
                lines: vec![format!(
                    "setup failed: dropping privileges: {}",
                    sys::errno_name(e)
                )],
            });
            let _ = env.teardown(keep);
            return ex;
        }
    }
    for i in 0..count {
        let (idx, op) = match &source {
            Source::Generate(_) => (
                i,
                timed(3, || privs::as_root(|| gen.next(&scan, &ref_root))),
            ),
            Source::Replay(list) => list[i].clone(),
        };
        ex.ops.push((idx, op.clone()));
        watch::note(&format!(
            "{who}: op #{idx} ({} ops executed): {op}",
            ex.ops.len()
        ));
        // Rescan the reference (for generating the next op) only when the op
        // may have changed names, types or sizes.  Failed data operations
        // may still have had an effect (O_CREAT before a failed write).
        let mut rescan = false;
        let breaks_before = env.reference.links.breaks;
        match step(&mut env, &op) {
            Step::Same(r) => {
                let data_op = matches!(
                    op,
                    Op::Create { .. } | Op::Pwrite { .. } | Op::Append { .. }
                );
                // Attribute changes leave names, types, sizes and link
                // counts alone (unless the reference gave a lower hard
                // link's name a copy of its own).
                let attrs_only = env.reference.links.breaks == breaks_before
                    && matches!(
                        op,
                        Op::Chmod { .. }
                            | Op::Utimens { .. }
                            | Op::SetXattr { .. }
                            | Op::RemoveXattr { .. }
                            | Op::SetFlags { .. }
                    );
                rescan = op.mutates_tree() && !attrs_only && (r.is_ok() || data_op);
                let e = ex.stats.entry(op.kind()).or_default();
                match r {
                    Ok(Val::Flags(Err(errno))) => {
                        *e.1.entry(format!("ioctl:{}", sys::errno_name(errno)))
                            .or_default() += 1
                    }
                    Ok(_) => e.0 += 1,
                    Err(errno) => *e.1.entry(sys::errno_name(errno)).or_default() += 1,
                }
            }
            Step::Expected(Known::Exdev | Known::SameFileFlags) => ex.expected_diffs += 1,
            Step::Expected(Known::Enotty) => ex.enotty += 1,
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
        if let Some(cp) = checkpoint_after(spec.seed, idx) {
            watch::note(&format!(
                "{who}: checkpoint after op #{idx}: {}",
                cp.describe()
            ));
            let ctx = format!(
                "checkpoint after op #{idx}; trees last compared at the previous checkpoint"
            );
            if let Err(f) = checkpoint(&mut env, cp, &ctx, &mut None) {
                ex.failure = Some(f);
                break;
            }
            ex.checkpoints += 1;
        }
        if matches!(source, Source::Generate(_)) && rescan {
            // A write to a file with a single name only changes its size:
            // update that entry instead of walking the tree again.
            let size_only = match &op {
                Op::Create { path, .. }
                | Op::Pwrite { path, .. }
                | Op::Append { path, .. }
                | Op::Truncate { path, .. } => scan
                    .iter()
                    .position(|e| &e.path == path && e.kind == 'f' && e.nlink == 1),
                _ => None,
            };
            let updated = size_only.is_some_and(|i| {
                let p = ref_root.join(&scan[i].path);
                match privs::as_root(|| sys::lstat(&p)) {
                    Ok(st) if st.st_nlink == 1 && st.st_mode & libc::S_IFMT == libc::S_IFREG => {
                        scan[i].size = st.st_size as u64;
                        true
                    }
                    _ => false,
                }
            });
            if !updated {
                scan = timed(3, || privs::as_root(|| tree::scan(&ref_root)));
            } else if cfg!(debug_assertions) {
                let full = privs::as_root(|| tree::scan(&ref_root));
                let first = scan.iter().zip(&full).find(|(a, b)| a != b);
                assert!(
                    first.is_none() && scan.len() == full.len(),
                    "scan update after {op}: {first:?}"
                );
            }
        }
    }

    if ex.failure.is_none() {
        let ctx = format!("end of run, after {} ops", ex.ops.len());
        watch::note(&format!("{who}: {ctx}: comparing"));
        let mut reference = None;
        if let Err(f) = compare_trees(&env, "live", &ctx, &mut reference) {
            ex.failure = Some(f);
        }
        for cp in FINAL_CHECKPOINTS {
            if ex.failure.is_some() {
                break;
            }
            watch::note(&format!("{who}: {ctx}: {}", cp.describe()));
            if let Err(f) = checkpoint(&mut env, *cp, &ctx, &mut reference) {
                ex.failure = Some(f);
                break;
            }
            ex.checkpoints += 1;
        }
    }

    let settled = env.reference.settle(true).and(env.union.settle(true));
    if let (Err(msg), None) = (settled, &ex.failure) {
        ex.failure = Some(Failure {
            sig: Signature::Internal,
            index: None,
            lines: vec![msg],
        });
    }
    watch::note(&format!("{who}: teardown (umount)"));
    let l = &env.reference.links;
    ex.links = [l.initial.0, l.initial.1, l.broken];
    let torn = timed(6, || privs::as_root(|| env.teardown(keep)));
    ex.times = TIMES.with(|c| c.get());
    if let Err(msg) = torn {
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

fn encode_execution(e: &mut wire::Enc, ex: &Execution) {
    e.usize(ex.ops.len());
    for (i, op) in &ex.ops {
        e.usize(*i);
        wire::op(e, op);
    }
    e.usize(ex.expected_diffs);
    e.usize(ex.enotty);
    e.usize(ex.checkpoints);
    for t in ex.times {
        e.u64(t.to_bits());
    }
    for n in ex.links {
        e.usize(n);
    }
    e.bool(ex.failure.is_some());
    if let Some(f) = &ex.failure {
        let (tag, s) = match &f.sig {
            Signature::Mismatch(k) => (0, *k),
            Signature::Tree(st) => (1, *st),
            Signature::Remount => (2, ""),
            Signature::Teardown => (3, ""),
            Signature::Setup => (4, ""),
            Signature::Internal => (5, ""),
        };
        e.u8(tag);
        e.str(s);
        e.bool(f.index.is_some());
        e.usize(f.index.unwrap_or(0));
        e.strs(&f.lines);
    }
    e.str(&ex.layout);
    e.str(&ex.mount_data);
    e.str(&ex.xattr_prefix);
    e.usize(ex.stats.len());
    for (k, (ok, errs)) in &ex.stats {
        e.str(k);
        e.usize(*ok);
        e.usize(errs.len());
        for (n, c) in errs {
            e.str(n);
            e.usize(*c);
        }
    }
}

fn decode_execution(data: &[u8]) -> wire::DecResult<Execution> {
    let mut d = wire::Dec::new(data);
    let mut ex = Execution::new();
    for _ in 0..d.usize()? {
        let i = d.usize()?;
        ex.ops.push((i, wire::dop(&mut d)?));
    }
    ex.expected_diffs = d.usize()?;
    ex.enotty = d.usize()?;
    ex.checkpoints = d.usize()?;
    for t in ex.times.iter_mut() {
        *t = f64::from_bits(d.u64()?);
    }
    for n in ex.links.iter_mut() {
        *n = d.usize()?;
    }
    if d.bool()? {
        let tag = d.u8()?;
        let s = d.str()?;
        let sig = match tag {
            0 => Signature::Mismatch(wire::intern(crate::ops::KINDS, &s)?),
            1 => Signature::Tree(wire::intern(STAGES, &s)?),
            2 => Signature::Remount,
            3 => Signature::Teardown,
            4 => Signature::Setup,
            5 => Signature::Internal,
            _ => return Err(wire::Bad),
        };
        let has_index = d.bool()?;
        let index = d.usize()?;
        ex.failure = Some(Failure {
            sig,
            index: has_index.then_some(index),
            lines: d.strs()?,
        });
    }
    ex.layout = d.str()?;
    ex.mount_data = d.str()?;
    ex.xattr_prefix = d.str()?;
    for _ in 0..d.usize()? {
        let k = wire::intern(crate::ops::KINDS, &d.str()?)?;
        let ok = d.usize()?;
        let mut errs = BTreeMap::new();
        for _ in 0..d.usize()? {
            let n = d.str()?;
            errs.insert(n, d.usize()?);
        }
        ex.stats.insert(k, (ok, errs));
    }
    if !d.done() {
        return Err(wire::Bad);
    }
    Ok(ex)
}

/// The outcome of a whole test, with a printable report.
pub struct TestReport {
    pub passed: bool,
    pub lines: Vec<String>,
    /// Operations executed in the main run.
    pub executed: usize,
    pub expected_diffs: usize,
    /// Flag ioctls answered ENOTTY by the union (known difference).
    pub enotty: usize,
    /// Length of the minimised reproducer, when a failure was minimised.
    pub minimized_len: Option<usize>,
    pub minimized: Option<Vec<(usize, Op)>>,
}

impl TestReport {
    pub fn encode(&self, e: &mut wire::Enc) {
        e.bool(self.passed);
        e.strs(&self.lines);
        e.usize(self.executed);
        e.usize(self.expected_diffs);
        e.usize(self.enotty);
        e.bool(self.minimized_len.is_some());
        e.usize(self.minimized_len.unwrap_or(0));
    }

    /// The inverse of [`TestReport::encode`] (without the minimised ops).
    pub fn decode(d: &mut wire::Dec) -> wire::DecResult<TestReport> {
        Ok(TestReport {
            passed: d.bool()?,
            lines: d.strs()?,
            executed: d.usize()?,
            expected_diffs: d.usize()?,
            enotty: d.usize()?,
            minimized_len: {
                let has = d.bool()?;
                let n = d.usize()?;
                has.then_some(n)
            },
            minimized: None,
        })
    }
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
                enotty: 0,
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
                enotty: 0,
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
        "seed={} ops={} mode={}{} branches=[{}] xattrs={}*",
        cfg.seed,
        cfg.ops,
        mode,
        if cfg.unpriv {
            format!(" uid={}", privs::TEST_UID)
        } else {
            String::new()
        },
        ex.layout,
        ex.xattr_prefix
    );
    let Some(failure) = ex.failure.clone() else {
        lines.push(format!(
            "PASS {head}: {} ops{} identical, {} checkpoints (drop_caches/remount), expected differences: {} (EXDEV on directory rename, EPERM on rename between names of one immutable file) + {} (ENOTTY for the flag ioctls), {:.1}s",
            ex.ops.len(),
            if replayed { " (replayed subset)" } else { "" },
            ex.checkpoints,
            ex.expected_diffs,
            ex.enotty,
            started.elapsed().as_secs_f64()
        ));
        if cfg.verbose {
            lines.extend(stats_lines(&ex.stats));
            lines.push(format!(
                "  lower hard links: {} files with several names ({} with all names visible), {} names given their own copy by a copy-up",
                ex.links[0], ex.links[1], ex.links[2]
            ));
        }
        lines.push(format!(
            "  time: {}",
            TIME_PARTS
                .iter()
                .zip(ex.times)
                .map(|(n, t)| format!("{n} {t:.1}s"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if cfg.keep {
            lines.push(format!("kept: {}", spec.workdir.display()));
        }
        return TestReport {
            passed: true,
            lines,
            executed: ex.ops.len(),
            expected_diffs: ex.expected_diffs,
            enotty: ex.enotty,
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
        enotty: ex.enotty,
        minimized_len: None,
        minimized: None,
    };
    if failure.sig != Signature::Setup && cfg.shrink && !replayed {
        let sig = failure.sig.clone();
        let deadline = std::time::Instant::now() + cfg.shrink_time;
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
            if let Some(cp) = checkpoint_after(cfg.seed, *i) {
                lines.push(format!("     (checkpoint: {})", cp.describe()));
            }
        }
        lines.push(format!(
            "  (end of run: {})",
            FINAL_CHECKPOINTS
                .iter()
                .map(|c| c.describe())
                .collect::<Vec<_>>()
                .join(", then ")
        ));
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

    /// A selfcheck configuration; its work directory is on /dev/shm when
    /// there is one (a tmpfs, like the test VM's; the deep directory chains
    /// make set-ups slow on a disk filesystem).
    fn selfcheck(seed: u64, ops: usize) -> Config {
        static N: AtomicUsize = AtomicUsize::new(0);
        let mut cfg = Config::new(Mode::Selfcheck, seed, ops);
        let shm = std::path::Path::new("/dev/shm");
        if sys::stat(shm).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR) {
            cfg.workdir = Some(shm.join(format!(
                "aufs-difftest-test.{}.{}",
                sys::getpid(),
                N.fetch_add(1, Ordering::Relaxed)
            )));
        }
        cfg
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
    fn unprivileged_selfcheck_passes() {
        // As root, the operations run in a forked child as uid 65534 and
        // the result comes back through the pipe; not root: in-process.
        for seed in [4, 8] {
            let mut cfg = selfcheck(seed, 300);
            cfg.unpriv = true;
            let rep = run_test(&cfg);
            assert!(rep.passed, "{}", rep.lines.join("\n"));
            assert_eq!(rep.executed, 300);
            assert!(rep.lines[0].contains("uid=65534"), "{}", rep.lines[0]);
        }
    }

    #[test]
    fn unprivileged_failures_come_back_from_the_child() {
        let mut found = false;
        for seed in 1..30 {
            let mut cfg = selfcheck(seed, 400);
            cfg.unpriv = true;
            cfg.bug = Some(Bug::UnlinkC);
            cfg.shrink = false;
            let rep = run_test(&cfg);
            if !rep.passed {
                let text = rep.lines.join("\n");
                assert!(text.contains("union:     Err(EBUSY)"), "{text}");
                assert!(text.contains("--unpriv"), "{text}");
                found = true;
                break;
            }
        }
        assert!(found, "the injected bug never triggered");
    }

    #[test]
    fn checkpoints_depend_on_seed_and_index_only() {
        let count = |seed: u64, cp: Checkpoint| {
            (0..100_000)
                .filter(|&i| checkpoint_after(seed, i) == Some(cp))
                .count()
        };
        let (d2, d3, rm) = CHECKPOINT_RATES;
        for (cp, rate) in [
            (Checkpoint::DropCaches(2), d2),
            (Checkpoint::DropCaches(3), d3),
            (Checkpoint::Remount, rm),
        ] {
            let n = count(7, cp) as u64;
            // rate per 1000, within 25%.
            assert!(
                n * 4 > rate * 100 * 3 && n * 4 < rate * 100 * 5,
                "{cp:?}: {n}"
            );
        }
        let a: Vec<_> = (0..2000).map(|i| checkpoint_after(7, i)).collect();
        let b: Vec<_> = (0..2000).map(|i| checkpoint_after(7, i)).collect();
        let c: Vec<_> = (0..2000).map(|i| checkpoint_after(8, i)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn execution_round_trips_through_the_wire() {
        let spec = selfcheck(9, 200).env_spec();
        let mut ex = execute(&spec, Source::Generate(200), false);
        ex.failure = Some(Failure {
            sig: Signature::Tree("after remount"),
            index: Some(12),
            lines: vec!["x".into(), "y".into()],
        });
        ex.enotty = 3;
        let mut e = wire::Enc::default();
        encode_execution(&mut e, &ex);
        let back = decode_execution(&e.buf).expect("decodes");
        assert_eq!(back.ops, ex.ops);
        assert_eq!(back.stats, ex.stats);
        assert_eq!(back.enotty, 3);
        assert_eq!(back.checkpoints, ex.checkpoints);
        let f = back.failure.unwrap();
        assert_eq!(f.sig, Signature::Tree("after remount"));
        assert_eq!(f.index, Some(12));
        assert_eq!(f.lines, vec!["x".to_string(), "y".to_string()]);
        assert!(decode_execution(&e.buf[..e.buf.len() - 1]).is_err());
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
