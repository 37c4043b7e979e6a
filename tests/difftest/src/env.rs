//! Setting up and tearing down one test environment: the branch directories,
//! the reference directory and the union side (a real aufs mount in `run`
//! mode, a second flattened copy in `selfcheck` mode).

use crate::fixture::{self, Caps};
use crate::flatten::{self, Branch, Perm};
use crate::model;
use crate::ops::{Bug, Side};
use crate::privs;
use crate::sys;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Union = aufs mounted over the branches (root, aufs.ko loaded).
    Run,
    /// Union = a plain copy of the flattened view (validates the tester).
    Selfcheck,
}

/// Size limit of the tmpfs that holds branches and reference in `run` mode.
pub const TMPFS_SIZE: &str = "128m";
pub const DEFAULT_RUN_WORKDIR: &str = "/tmp/aufs-difftest";
/// Marker file proving a selfcheck work directory is ours to delete.
const SELFCHECK_MARKER: &str = ".aufs-difftest-selfcheck";

pub struct Env {
    pub mode: Mode,
    pub workdir: PathBuf,
    pub branches: Vec<Branch>,
    pub union: Side,
    pub reference: Side,
    /// The aufs mount data (`run` mode) or a description of the branches.
    pub mount_data: String,
    /// xattr namespace of most operations: "user." or "trusted.".
    pub xattr_prefix: String,
    /// The other namespace, used by some operations (`None`: only the
    /// first one, when a namespace was forced).
    pub xattr_alt: Option<String>,
    /// Depth of the deep directory chain, if the fixture has one.
    pub deep: Option<usize>,
    tmpfs_mounted: bool,
    aufs_mounted: bool,
}

/// Branch layout as "b0=rw b1=ro+wh ...".
pub fn describe_layout(branches: &[Branch]) -> String {
    branches
        .iter()
        .map(|b| {
            let name = b
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("{}={}", name, b.perm.as_str())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn err(what: &str, p: &Path, e: sys::Errno) -> String {
    format!("{what} {}: {}", p.display(), sys::errno_name(e))
}

/// Is "aufs" listed in /proc/filesystems?
pub fn aufs_available() -> bool {
    sys::read_text(Path::new("/proc/filesystems"))
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some("aufs"))
        })
        .unwrap_or(false)
}

/// Unmounts whatever a previous (crashed or --keep) run left mounted at or
/// below `workdir`, deepest first.  Only aufs and tmpfs mounts are touched.
fn clean_stale_mounts(workdir: &Path) -> Result<(), String> {
    let mut mps: Vec<(PathBuf, String)> = sys::mount_points()
        .map_err(|e| format!("reading /proc/self/mountinfo: {}", sys::errno_name(e)))?
        .into_iter()
        .filter(|(mp, _)| mp.starts_with(workdir))
        .collect();
    mps.sort_by_key(|(mp, _)| std::cmp::Reverse(mp.components().count()));
    for (mp, fstype) in mps {
        if fstype != "aufs" && fstype != "tmpfs" {
            return Err(format!(
                "{} is a {fstype} mount inside the work directory; not touching it",
                mp.display()
            ));
        }
        if sys::umount2(&mp, 0).is_err() {
            sys::umount2(&mp, libc::MNT_DETACH).map_err(|e| err("umount", &mp, e))?;
        }
    }
    Ok(())
}

/// Which xattr namespace operations and fixtures use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrNs {
    /// user.* if the filesystem supports it, else trusted.* when root
    /// (tmpfs has user.* xattrs only since Linux 6.6; trusted.* earlier).
    Auto,
    User,
    Trusted,
}

/// Can an xattr called `name` be set on a regular file in `dir`?
fn probe_xattr(dir: &Path, name: &str) -> Result<bool, String> {
    let p = dir.join(".xattr-probe");
    sys::open(&p, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, 0o600)
        .map_err(|e| err("create", &p, e))?;
    let r = sys::lsetxattr(&p, name, b"1", 0);
    let _ = sys::unlink(&p);
    match r {
        Ok(()) => Ok(true),
        Err(libc::EOPNOTSUPP) | Err(libc::EPERM) => Ok(false),
        Err(e) => Err(err("setxattr probe", &p, e)),
    }
}

/// (prefix used by most operations, the other prefix used by some, the
/// prefixes usable in fixtures).
type XattrChoice = (String, Option<String>, Vec<String>);

fn choose_xattr_ns(dir: &Path, ns: XattrNs) -> Result<XattrChoice, String> {
    let user = || probe_xattr(dir, "user.probe");
    let trusted = || {
        if sys::geteuid() == 0 {
            probe_xattr(dir, "trusted.probe")
        } else {
            Ok(false)
        }
    };
    let only = |p: &str, ok: bool| if ok { vec![p.to_string()] } else { vec![] };
    Ok(match ns {
        XattrNs::User => ("user.".into(), None, only("user.", user()?)),
        XattrNs::Trusted => ("trusted.".into(), None, only("trusted.", trusted()?)),
        XattrNs::Auto => {
            let (u, t) = (user()?, trusted()?);
            let mut fixture = only("user.", u);
            fixture.extend(only("trusted.", t));
            if u || !t {
                ("user.".into(), Some("trusted.".into()), fixture)
            } else {
                ("trusted.".into(), Some("user.".into()), fixture)
            }
        }
    })
}

/// Everything needed to build an environment.
#[derive(Clone, Debug)]
pub struct EnvSpec {
    pub mode: Mode,
    pub seed: u64,
    pub branches: Option<usize>,
    pub workdir: PathBuf,
    pub bug: Option<Bug>,
    pub xattr_ns: XattrNs,
    /// Unprivileged seed: fixtures give entries to the test user (the
    /// runner switches to it after the set-up).
    pub unpriv: bool,
}

impl Env {
    /// Builds a fresh environment for `spec.seed`.
    pub fn setup(spec: &EnvSpec) -> Result<Env, String> {
        let w = spec.workdir.clone();
        let mut env = Env {
            mode: spec.mode,
            workdir: w.clone(),
            branches: Vec::new(),
            union: Side::new(
                w.join("mnt"),
                spec.mode == Mode::Selfcheck,
                spec.bug,
                w.join("stash-union"),
            ),
            reference: Side::new(w.join("ref"), true, None, w.join("stash-ref")),
            mount_data: String::new(),
            xattr_prefix: "user.".into(),
            xattr_alt: None,
            deep: None,
            tmpfs_mounted: false,
            aufs_mounted: false,
        };
        match env.build(spec) {
            Ok(()) => Ok(env),
            Err(e) => {
                let _ = env.teardown(false);
                Err(e)
            }
        }
    }

    fn build(&mut self, spec: &EnvSpec) -> Result<(), String> {
        let w = self.workdir.clone();
        match self.mode {
            Mode::Run => {
                if sys::geteuid() != 0 {
                    return Err("run mode needs root (mount)".into());
                }
                clean_stale_mounts(&w)?;
                std::fs::create_dir_all(&w)
                    .map_err(|e| format!("mkdir -p {}: {e}", w.display()))?;
                let left = sys::list_names(&w).map_err(|e| err("list", &w, e))?;
                if !left.is_empty() {
                    return Err(format!(
                        "work directory {} is not empty: {:?}",
                        w.display(),
                        left
                    ));
                }
                sys::mount(
                    "tmpfs",
                    &w,
                    "tmpfs",
                    0,
                    &format!("size={TMPFS_SIZE},mode=0755"),
                )
                .map_err(|e| err("mount tmpfs on", &w, e))?;
                self.tmpfs_mounted = true;
            }
            Mode::Selfcheck => {
                if sys::lstat(&w).is_ok() {
                    if sys::lstat(&w.join(SELFCHECK_MARKER)).is_ok() {
                        sys::remove_tree(&w).map_err(|e| err("remove", &w, e))?;
                    } else if !sys::list_names(&w)
                        .map_err(|e| err("list", &w, e))?
                        .is_empty()
                    {
                        return Err(format!(
                            "work directory {} is not empty and not ours",
                            w.display()
                        ));
                    } else {
                        let _ = sys::rmdir(&w);
                    }
                }
                std::fs::create_dir_all(&w)
                    .map_err(|e| format!("mkdir -p {}: {e}", w.display()))?;
                let m = w.join(SELFCHECK_MARKER);
                sys::open(&m, libc::O_CREAT | libc::O_WRONLY, 0o644)
                    .map_err(|e| err("create", &m, e))?;
            }
        }
        let (prefix, alt, fixture_prefixes) = choose_xattr_ns(&w, spec.xattr_ns)?;
        self.xattr_prefix = prefix;
        self.xattr_alt = alt;
        let caps = Caps {
            root: sys::geteuid() == 0,
            xattr_prefixes: fixture_prefixes,
            user: spec.unpriv.then_some((privs::TEST_UID, privs::TEST_GID)),
        };
        let perms = fixture::choose_perms(spec.seed, spec.branches);
        for (i, perm) in perms.iter().enumerate() {
            let p = w.join(format!("b{i}"));
            sys::mkdir(&p, 0o755).map_err(|e| err("mkdir", &p, e))?;
            self.branches.push(Branch {
                path: p,
                perm: *perm,
            });
        }
        for d in [&self.reference.root, &self.union.root] {
            sys::mkdir(d, 0o755).map_err(|e| err("mkdir", d, e))?;
        }
        for d in [&self.reference.links.stash, &self.union.links.stash] {
            sys::mkdir(d, 0o700).map_err(|e| err("mkdir", d, e))?;
        }
        self.deep = fixture::populate(spec.seed, &self.branches, caps)
            .map_err(|e| format!("populating branches: {}", sys::errno_name(e)))?;
        let writable = |b: usize| self.branches[b].perm == Perm::Rw;
        let flat = flatten::flatten(&self.branches, &self.reference.root).map_err(|e| {
            format!(
                "flattening into {}: {}",
                self.reference.root.display(),
                sys::errno_name(e)
            )
        })?;
        model::init_links(
            &mut self.reference.links,
            &self.reference.root,
            &flat.groups,
            writable,
        )?;
        self.reference
            .dirperms
            .init(&self.branches, &flat.root, &self.reference.root, writable)?;
        match self.mode {
            Mode::Run => {
                let br: Vec<String> = self
                    .branches
                    .iter()
                    .map(|b| format!("{}={}", b.path.display(), b.perm.as_str()))
                    .collect();
                // noplink: the reference model of lower hard links is
                // aufs's without pseudo-links (copy-up breaks the link);
                // pseudo-links have their own tests (selftests/hardlink.c).
                self.mount_data = format!("br={},noplink", br.join(":"));
                sys::mount("none", &self.union.root, "aufs", 0, &self.mount_data).map_err(|e| {
                    format!(
                        "mount -t aufs -o {} none {}: {}",
                        self.mount_data,
                        self.union.root.display(),
                        sys::errno_name(e)
                    )
                })?;
                self.aufs_mounted = true;
            }
            Mode::Selfcheck => {
                self.mount_data = describe_layout(&self.branches);
                let flat = flatten::flatten(&self.branches, &self.union.root).map_err(|e| {
                    format!(
                        "flattening into {}: {}",
                        self.union.root.display(),
                        sys::errno_name(e)
                    )
                })?;
                let writable = |b: usize| self.branches[b].perm == Perm::Rw;
                model::init_links(
                    &mut self.union.links,
                    &self.union.root,
                    &flat.groups,
                    writable,
                )?;
                self.union
                    .dirperms
                    .init(&self.branches, &flat.root, &self.union.root, writable)?;
            }
        }
        Ok(())
    }

    /// `echo LEVEL > /proc/sys/vm/drop_caches` (2: dentries and inodes, 3:
    /// also the page cache), as root; nothing in selfcheck mode (the union
    /// is a plain directory there, and the host's caches are not ours).
    pub fn drop_caches(&self, level: u32) -> Result<(), String> {
        if self.mode != Mode::Run {
            return Ok(());
        }
        let p = Path::new("/proc/sys/vm/drop_caches");
        privs::as_root(|| sys::write_text(p, &format!("{level}\n"))).map_err(|e| err("write", p, e))
    }

    /// Unmounts the union and mounts it again from the same branches with
    /// the same options (run mode; nothing in selfcheck mode).
    pub fn remount(&mut self) -> Result<(), String> {
        if self.mode != Mode::Run || !self.aufs_mounted {
            return Ok(());
        }
        privs::as_root(|| {
            sys::umount2(&self.union.root, 0).map_err(|e| err("umount", &self.union.root, e))?;
            self.aufs_mounted = false;
            sys::mount("none", &self.union.root, "aufs", 0, &self.mount_data).map_err(|e| {
                format!(
                    "mount -t aufs -o {} none {} again: {}",
                    self.mount_data,
                    self.union.root.display(),
                    sys::errno_name(e)
                )
            })?;
            self.aufs_mounted = true;
            Ok(())
        })
    }

    /// Unmounts aufs (an error is returned if that fails: it must succeed)
    /// and, unless `keep`, removes everything.
    pub fn teardown(&mut self, keep: bool) -> Result<(), String> {
        let mut problem = None;
        if self.aufs_mounted {
            if let Err(e) = sys::umount2(&self.union.root, 0) {
                problem = Some(err("umount", &self.union.root, e));
                let _ = sys::umount2(&self.union.root, libc::MNT_DETACH);
            }
            self.aufs_mounted = false;
        }
        if !keep {
            match self.mode {
                Mode::Run => {
                    if self.tmpfs_mounted {
                        if sys::umount2(&self.workdir, 0).is_err() {
                            let _ = sys::umount2(&self.workdir, libc::MNT_DETACH);
                        }
                        self.tmpfs_mounted = false;
                        let _ = sys::rmdir(&self.workdir);
                    }
                }
                Mode::Selfcheck => {
                    if sys::lstat(&self.workdir.join(SELFCHECK_MARKER)).is_ok() {
                        if let Err(e) = sys::remove_tree(&self.workdir) {
                            problem.get_or_insert(err("remove", &self.workdir, e));
                        }
                    }
                }
            }
        }
        match problem {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }
}
