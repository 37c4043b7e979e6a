//! Setting up and tearing down one test environment: the branch directories,
//! the reference directory and the union side (a real aufs mount in `run`
//! mode, a second flattened copy in `selfcheck` mode).

use crate::fixture::{self, Caps};
use crate::flatten::{self, Branch};
use crate::ops::{Bug, Side};
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
    /// xattr namespace of the operations: "user." or "trusted.".
    pub xattr_prefix: String,
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

/// (prefix used by operations, prefix usable in fixtures if any).
fn choose_xattr_ns(dir: &Path, ns: XattrNs) -> Result<(String, Option<String>), String> {
    let user = || probe_xattr(dir, "user.probe");
    let trusted = || {
        if sys::geteuid() == 0 {
            probe_xattr(dir, "trusted.probe")
        } else {
            Ok(false)
        }
    };
    Ok(match ns {
        XattrNs::User => ("user.".into(), user()?.then(|| "user.".into())),
        XattrNs::Trusted => ("trusted.".into(), trusted()?.then(|| "trusted.".into())),
        XattrNs::Auto => {
            if user()? {
                ("user.".into(), Some("user.".into()))
            } else if trusted()? {
                ("trusted.".into(), Some("trusted.".into()))
            } else {
                ("user.".into(), None)
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
}

impl Env {
    /// Builds a fresh environment for `spec.seed`.
    pub fn setup(spec: &EnvSpec) -> Result<Env, String> {
        let w = spec.workdir.clone();
        let mut env = Env {
            mode: spec.mode,
            workdir: w.clone(),
            branches: Vec::new(),
            union: Side {
                root: w.join("mnt"),
                aufs_names: spec.mode == Mode::Selfcheck,
                bug: spec.bug,
            },
            reference: Side {
                root: w.join("ref"),
                aufs_names: true,
                bug: None,
            },
            mount_data: String::new(),
            xattr_prefix: "user.".into(),
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
        let (prefix, fixture_prefix) = choose_xattr_ns(&w, spec.xattr_ns)?;
        self.xattr_prefix = prefix;
        let caps = Caps {
            root: sys::geteuid() == 0,
            xattr_prefix: fixture_prefix,
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
        fixture::populate(spec.seed, &self.branches, caps)
            .map_err(|e| format!("populating branches: {}", sys::errno_name(e)))?;
        flatten::flatten(&self.branches, &self.reference.root).map_err(|e| {
            format!(
                "flattening into {}: {}",
                self.reference.root.display(),
                sys::errno_name(e)
            )
        })?;
        match self.mode {
            Mode::Run => {
                let br: Vec<String> = self
                    .branches
                    .iter()
                    .map(|b| format!("{}={}", b.path.display(), b.perm.as_str()))
                    .collect();
                self.mount_data = format!("br={}", br.join(":"));
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
                flatten::flatten(&self.branches, &self.union.root).map_err(|e| {
                    format!(
                        "flattening into {}: {}",
                        self.union.root.display(),
                        sys::errno_name(e)
                    )
                })?;
            }
        }
        Ok(())
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
