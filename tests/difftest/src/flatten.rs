//! The union's flattened view, computed from the branch directories by this
//! tester's own reading of the aufs lookup rules (aufs-reference.md,
//! "Semantics"):
//!
//! * lookup goes top-down from branch 0;
//! * on a branch that may hold whiteouts (`rw`, `ro+wh`), a regular file
//!   `.wh.X` hides `X` on that branch and on every branch below;
//! * the first positive entry fixes the type; a non-directory ends the search;
//! * directories merge downwards, down to and including the first branch whose
//!   copy of the directory holds `.wh..wh..opq` (only honoured on a
//!   whiteout-capable branch);
//! * while merging a directory, a lower entry of another type is ignored;
//! * names starting with `.wh.` are never visible; on a plain `ro` branch they
//!   are ordinary (hidden) files that hide nothing.
//!
//! [`plan`] computes the view as a tree of sources; [`materialize`] copies it
//! into a plain directory (data, mode, owner, user.*/trusted.* xattrs, times,
//! inode flags), keeping visible names of one hard-linked branch file as hard
//! links of one file (see model.rs for what happens to them on copy-up).

use crate::model::LinkGroup;
use crate::sys::{self, SysResult};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const WH_PREFIX: &str = ".wh.";
pub const OPAQUE: &str = ".wh..wh..opq";

/// A branch's permission as given at mount time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    Rw,
    RoWh,
    Ro,
}

impl Perm {
    /// May this branch hold whiteouts (and opaque markers) that take effect?
    pub fn whable(self) -> bool {
        matches!(self, Perm::Rw | Perm::RoWh)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Perm::Rw => "rw",
            Perm::RoWh => "ro+wh",
            Perm::Ro => "ro",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Branch {
    pub path: PathBuf,
    pub perm: Perm,
}

/// One entry of the flattened view and where its data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VNode {
    /// A merged directory: the branches that contribute, top first.
    /// Attributes come from the first one.
    Dir {
        sources: Vec<usize>,
        children: BTreeMap<String, VNode>,
    },
    /// A non-directory, taken whole from one branch.
    Leaf { branch: usize, kind: char },
}

fn is_regular(p: &Path) -> SysResult<bool> {
    match sys::lstat(p) {
        Ok(st) => Ok(st.st_mode & libc::S_IFMT == libc::S_IFREG),
        Err(libc::ENOENT) | Err(libc::ENOTDIR) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Does `dir` (a directory on a whiteout-capable branch) hold `.wh.<name>`?
/// aufs accepts only regular files as whiteouts.
fn whited_out(dir: &Path, name: &str) -> SysResult<bool> {
    is_regular(&dir.join(format!("{WH_PREFIX}{name}")))
}

/// Resolves `name` inside the merged directory `rel` whose contributing
/// branches are `sources`.  `None`: the name is not visible.
fn lookup(
    branches: &[Branch],
    rel: &Path,
    sources: &[usize],
    name: &str,
) -> SysResult<Option<VNode>> {
    let mut kind: Option<char> = None;
    let mut dir_sources = Vec::new();
    for &b in sources {
        let br = &branches[b];
        let dir = br.path.join(rel);
        if br.perm.whable() && whited_out(&dir, name)? {
            break; // hides the name here and below
        }
        let p = dir.join(name);
        let st = match sys::lstat(&p) {
            Ok(st) => st,
            Err(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        let k = sys::kind_char(st.st_mode);
        match kind {
            None => {
                kind = Some(k);
                if k != 'd' {
                    return Ok(Some(VNode::Leaf { branch: b, kind: k }));
                }
            }
            Some(_) if k != 'd' => continue, // other type below a dir: ignored
            Some(_) => {}
        }
        dir_sources.push(b);
        if br.perm.whable() && is_regular(&p.join(OPAQUE))? {
            break; // opaque: this branch is the last one merged
        }
    }
    if kind.is_none() {
        return Ok(None);
    }
    let children = plan_dir(branches, &rel.join(name), &dir_sources)?;
    Ok(Some(VNode::Dir {
        sources: dir_sources,
        children,
    }))
}

/// The visible children of the merged directory `rel`.
fn plan_dir(
    branches: &[Branch],
    rel: &Path,
    sources: &[usize],
) -> SysResult<BTreeMap<String, VNode>> {
    let mut names = std::collections::BTreeSet::new();
    for &b in sources {
        for n in sys::list_names(&branches[b].path.join(rel))? {
            if !n.starts_with(WH_PREFIX) {
                names.insert(n);
            }
        }
    }
    let mut out = BTreeMap::new();
    for n in names {
        if let Some(node) = lookup(branches, rel, sources, &n)? {
            out.insert(n, node);
        }
    }
    Ok(out)
}

/// The flattened view of `branches` (index 0 on top).  Every branch root
/// takes part in the root directory; opaque markers at branch roots are not
/// used by this tester and are not interpreted.
pub fn plan(branches: &[Branch]) -> SysResult<VNode> {
    let sources: Vec<usize> = (0..branches.len()).collect();
    let children = plan_dir(branches, Path::new(""), &sources)?;
    Ok(VNode::Dir { sources, children })
}

/// Copies the attributes of `src` onto `dst` (same type): owner (when root),
/// mode (not for symlinks), user.*/trusted.* xattrs (when supported),
/// atime/mtime.
pub fn copy_attrs(src: &Path, dst: &Path, st: &libc::stat) -> SysResult<()> {
    let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
    if sys::geteuid() == 0 {
        sys::lchown(dst, st.st_uid, st.st_gid)?;
    }
    if !is_link {
        // xattrs before the mode: without root, setting them needs write
        // permission.
        match sys::compared_xattrs(src) {
            Ok(list) => {
                for (n, v) in list {
                    sys::lsetxattr(dst, &n, &v, 0)?;
                }
            }
            Err(libc::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
        }
        sys::chmod(dst, st.st_mode & 0o7777)?;
    }
    sys::utimensat(
        dst,
        Some((st.st_atime, st.st_atime_nsec)),
        Some((st.st_mtime, st.st_mtime_nsec)),
        true,
    )
}

/// Copies a regular file's data, leaving all-zero 4 KiB blocks as holes.
pub fn copy_data(src: &Path, dst: &Path) -> SysResult<()> {
    let data = sys::read_to_end(&sys::open(src, libc::O_RDONLY, 0)?)?;
    let out = sys::open(dst, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o600)?;
    for (i, block) in data.chunks(4096).enumerate() {
        if block.iter().any(|&b| b != 0) {
            sys::pwrite_all(&out, block, (i * 4096) as u64)?;
        }
    }
    sys::ftruncate(&out, data.len() as u64)
}

/// Creates at `dst` a copy of the non-directory `src` (file, symlink, fifo).
pub fn copy_leaf(src: &Path, dst: &Path) -> SysResult<()> {
    let st = sys::lstat(src)?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => copy_data(src, dst)?,
        libc::S_IFLNK => {
            let t = sys::readlink(src)?;
            sys::symlink(&String::from_utf8_lossy(&t), dst)?;
        }
        libc::S_IFIFO => sys::mknod(dst, libc::S_IFIFO | 0o600, 0)?,
        _ => return Err(libc::EINVAL), // no devices or sockets in fixtures
    }
    copy_attrs(src, dst, &st)
}

/// The inode flags (FS_IOC_GETFLAGS, masked to the compared ones) of a
/// regular file or directory; 0 when the filesystem has none.
pub fn flags_of(p: &Path, st: &libc::stat) -> u32 {
    let t = st.st_mode & libc::S_IFMT;
    if t != libc::S_IFREG && t != libc::S_IFDIR {
        return 0;
    }
    sys::get_flags_at(p).map_or(0, |f| f & sys::FS_COMPARED_FL)
}

#[derive(Default)]
struct Materializer {
    /// (branch, inode) of a hard-linked leaf -> index in `groups`.
    seen: HashMap<(usize, u64), usize>,
    groups: Vec<LinkGroup>,
    /// Inode flags to set once everything exists.
    flags: Vec<(PathBuf, u32)>,
}

impl Materializer {
    fn dir(
        &mut self,
        branches: &[Branch],
        rel: &Path,
        sources: &[usize],
        children: &BTreeMap<String, VNode>,
        dest: &Path,
    ) -> SysResult<()> {
        for (name, node) in children {
            let crel = rel.join(name);
            let dst = dest.join(&crel);
            match node {
                VNode::Leaf { branch, .. } => {
                    let src = branches[*branch].path.join(&crel);
                    let st = sys::lstat(&src)?;
                    let key = (*branch, st.st_ino);
                    let rel_name = crel.to_string_lossy().into_owned();
                    if st.st_nlink > 1 {
                        if let Some(&g) = self.seen.get(&key) {
                            let first = dest.join(&self.groups[g].names[0]);
                            sys::link(&first, &dst)?;
                            self.groups[g].names.push(rel_name);
                            continue;
                        }
                        self.seen.insert(key, self.groups.len());
                        #[allow(clippy::useless_conversion)]
                        self.groups.push(LinkGroup {
                            branch: *branch,
                            branch_nlink: u64::from(st.st_nlink),
                            names: vec![rel_name],
                        });
                    }
                    copy_leaf(&src, &dst)?;
                    let f = flags_of(&src, &st);
                    if f != 0 {
                        self.flags.push((dst, f));
                    }
                }
                VNode::Dir { sources, children } => {
                    sys::mkdir(&dst, 0o700)?;
                    self.dir(branches, &crel, sources, children, dest)?;
                }
            }
        }
        // Directory attributes last: the mode may forbid writing into it.
        let top = branches[sources[0]].path.join(rel);
        let st = sys::lstat(&top)?;
        let f = flags_of(&top, &st);
        if f != 0 {
            self.flags.push((dest.join(rel), f));
        }
        copy_attrs(&top, &dest.join(rel), &st)
    }
}

/// Writes the view `root` (from [`plan`]) into the existing, empty
/// directory `dest`; returns the hard-link groups it made.
pub fn materialize(branches: &[Branch], root: &VNode, dest: &Path) -> SysResult<Vec<LinkGroup>> {
    let VNode::Dir { sources, children } = root else {
        return Err(libc::EINVAL);
    };
    let mut m = Materializer::default();
    m.dir(branches, Path::new(""), sources, children, dest)?;
    // Flags last: an append-only or immutable file cannot be linked, and
    // an immutable directory cannot be filled.
    for (p, f) in &m.flags {
        sys::set_compared_flags_at(p, *f)?;
    }
    let mut groups = m.groups;
    for g in &mut groups {
        g.names.sort();
    }
    Ok(groups)
}

/// The flattened view and the hard-link groups of its materialized copy.
pub struct Flat {
    pub root: VNode,
    pub groups: Vec<LinkGroup>,
}

/// [`plan`] + [`materialize`].
pub fn flatten(branches: &[Branch], dest: &Path) -> SysResult<Flat> {
    let root = plan(branches)?;
    let groups = materialize(branches, &root, dest)?;
    Ok(Flat { root, groups })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree;

    /// A hand-written fixture in a temporary directory, removed on drop.
    struct Fixture {
        dir: PathBuf,
    }

    impl Fixture {
        fn new(tag: &str) -> Fixture {
            let dir =
                std::env::temp_dir().join(format!("aufs-difftest-{tag}.{}", std::process::id()));
            let _ = sys::remove_tree(&dir);
            sys::mkdir(&dir, 0o755).unwrap();
            Fixture { dir }
        }
        fn p(&self, rel: &str) -> PathBuf {
            self.dir.join(rel)
        }
        fn dir(&self, rel: &str, mode: u32) {
            sys::mkdir(&self.p(rel), 0o700).unwrap();
            sys::chmod(&self.p(rel), mode).unwrap();
        }
        fn file(&self, rel: &str, data: &str) {
            let fd = sys::open(
                &self.p(rel),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                0o600,
            )
            .unwrap();
            sys::write_all(&fd, data.as_bytes()).unwrap();
            sys::chmod(&self.p(rel), 0o644).unwrap();
        }
        fn link(&self, rel: &str, target: &str) {
            sys::symlink(target, &self.p(rel)).unwrap();
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = sys::remove_tree(&self.dir);
        }
    }

    #[test]
    fn flatten_hand_written_fixture() {
        let f = Fixture::new("flatten-fixture");
        for b in ["b0", "b1", "b2", "b3"] {
            f.dir(b, 0o755);
        }
        // b0 (rw)
        f.file("b0/f1", "top");
        f.file("b0/.wh.gone", ""); //           hides gone on b1 and b3
        f.dir("b0/d", 0o755);
        f.file("b0/d/.wh.x", ""); //            hides d/x on b1
        f.file("b0/d/top", "t");
        f.dir("b0/o", 0o750);
        f.file("b0/o/.wh..wh..opq", ""); //     o merges nothing below
        f.file("b0/o/new", "new");
        f.file("b0/t", "t-top"); //             file on top hides dir t below
        f.dir("b0/m", 0o700); //                top dir fixes attributes of m
        f.file("b0/m/k0", "k0");
        // b1 (ro+wh)
        f.file("b1/gone", "lower");
        f.dir("b1/d", 0o711);
        f.file("b1/d/x", "x1");
        f.file("b1/d/y", "y1");
        f.file("b1/d/.wh.z", ""); //            hides d/z on b2
        f.file("b1/f1", "lower");
        f.dir("b1/o", 0o755);
        f.file("b1/o/old", "old");
        f.dir("b1/t", 0o755);
        f.file("b1/t/u", "u");
        f.file("b1/m", "m-file"); //            other type below a dir: ignored
        f.dir("b1/n", 0o755);
        f.file("b1/n/.wh..wh..opq", ""); //     opaque on b1: b2's n not merged
        f.file("b1/n/n1", "n1");
        f.link("b1/s", "f1");
        // b2 (plain ro): whiteouts and opaque markers are ordinary, hidden files
        f.dir("b2/d", 0o755);
        f.file("b2/d/z", "z2");
        f.file("b2/d/w", "w2");
        f.dir("b2/m", 0o755);
        f.file("b2/m/k2", "k2");
        f.dir("b2/n", 0o755);
        f.file("b2/n/n2", "n2");
        f.file("b2/.wh.hid", ""); //            ignored: hides nothing
        f.file("b2/.wh.f1", "");
        f.dir("b2/p", 0o755);
        f.file("b2/p/.wh..wh..opq", ""); //     ignored: p still merges b3
        f.file("b2/p/q", "q2");
        f.file("b2/gone", "g2"); //             still hidden by b0's whiteout
                                 // b3 (ro+wh)
        f.file("b3/hid", "h3");
        f.dir("b3/p", 0o755);
        f.file("b3/p/r", "r3");
        f.file("b3/gone", "g3");
        f.file("b3/s", "not a symlink"); //     s is fixed by b1's symlink

        let branches = vec![
            Branch {
                path: f.p("b0"),
                perm: Perm::Rw,
            },
            Branch {
                path: f.p("b1"),
                perm: Perm::RoWh,
            },
            Branch {
                path: f.p("b2"),
                perm: Perm::Ro,
            },
            Branch {
                path: f.p("b3"),
                perm: Perm::RoWh,
            },
        ];
        f.dir("ref", 0o755);
        let root = flatten(&branches, &f.p("ref")).unwrap().root;
        let got = tree::listing(&tree::snapshot(&f.p("ref")));
        let want = "\
.: d 0755
d: d 0755
d/top: f 0644 \"t\"
d/w: f 0644 \"w2\"
d/y: f 0644 \"y1\"
f1: f 0644 \"top\"
hid: f 0644 \"h3\"
m: d 0700
m/k0: f 0644 \"k0\"
m/k2: f 0644 \"k2\"
n: d 0755
n/n1: f 0644 \"n1\"
o: d 0750
o/new: f 0644 \"new\"
p: d 0755
p/q: f 0644 \"q2\"
p/r: f 0644 \"r3\"
s: l 0777 -> f1
t: f 0644 \"t-top\"
";
        assert_eq!(got, want, "flattened view:\n{got}");

        // Where things come from.
        let VNode::Dir { children, .. } = &root else {
            panic!("root is not a dir")
        };
        assert_eq!(children["d"], {
            let VNode::Dir { children: dc, .. } = &children["d"] else {
                panic!()
            };
            VNode::Dir {
                sources: vec![0, 1, 2],
                children: dc.clone(),
            }
        });
        let src = |n: &str| match &children[n] {
            VNode::Dir { sources, .. } => sources.clone(),
            VNode::Leaf { branch, .. } => vec![*branch],
        };
        assert_eq!(src("m"), vec![0, 2]);
        assert_eq!(src("n"), vec![1]);
        assert_eq!(src("o"), vec![0]);
        assert_eq!(src("p"), vec![2, 3]);
        assert_eq!(src("s"), vec![1]);
        assert_eq!(src("t"), vec![0]);
    }

    #[test]
    fn hard_links_stay_links_and_are_reported() {
        let f = Fixture::new("flatten-links");
        for b in ["b0", "b1", "ref"] {
            f.dir(b, 0o755);
        }
        f.file("b1/a", "lower");
        f.dir("b1/d", 0o755);
        sys::link(&f.p("b1/a"), &f.p("b1/d/c")).unwrap();
        sys::link(&f.p("b1/a"), &f.p("b1/e")).unwrap();
        f.file("b0/.wh.e", ""); //              one name hidden: 2 of 3 visible
        f.file("b1/x", "x");
        sys::link(&f.p("b1/x"), &f.p("b1/y")).unwrap(); // all visible
        f.file("b0/u", "upper");
        sys::link(&f.p("b0/u"), &f.p("b0/v")).unwrap();
        let branches = vec![
            Branch {
                path: f.p("b0"),
                perm: Perm::Rw,
            },
            Branch {
                path: f.p("b1"),
                perm: Perm::RoWh,
            },
        ];
        let flat = flatten(&branches, &f.p("ref")).unwrap();
        let mut groups = flat.groups.clone();
        groups.sort_by(|a, b| a.names.cmp(&b.names));
        let want = vec![
            LinkGroup {
                branch: 1,
                branch_nlink: 3,
                names: vec!["a".into(), "d/c".into()],
            },
            LinkGroup {
                branch: 0,
                branch_nlink: 2,
                names: vec!["u".into(), "v".into()],
            },
            LinkGroup {
                branch: 1,
                branch_nlink: 2,
                names: vec!["x".into(), "y".into()],
            },
        ];
        assert_eq!(groups, want);
        assert!(!groups[0].intact() && groups[2].intact());
        let ino = |p: &str| sys::lstat(&f.p(p)).unwrap().st_ino;
        assert_eq!(ino("ref/a"), ino("ref/d/c"));
        assert_eq!(ino("ref/x"), ino("ref/y"));
        assert_ne!(ino("ref/a"), ino("ref/x"));
        assert_eq!(sys::lstat(&f.p("ref/a")).unwrap().st_nlink, 2);
        // The model: b1's groups are lower links, the one with a hidden
        // name is tainted from the start; b0's are plain hard links.
        let mut m = crate::model::LinkModel::new(f.p("stash"));
        crate::model::init_links(&mut m, &f.p("ref"), &flat.groups, |b| b == 0).unwrap();
        assert_eq!(m.lower.len(), 2);
        assert!(m.is_tainted(ino("ref/a")) && !m.is_tainted(ino("ref/x")));
        assert!(!m.lower.contains(&ino("ref/u")));
    }

    #[test]
    fn whiteout_must_be_a_regular_file() {
        // A directory named .wh.X is not a whiteout (aufs would report EIO;
        // the fixtures never create one, the rule is just not applied).
        let f = Fixture::new("flatten-whdir");
        f.dir("b0", 0o755);
        f.dir("b1", 0o755);
        f.dir("b0/.wh.a", 0o755);
        f.file("b1/a", "a1");
        let branches = vec![
            Branch {
                path: f.p("b0"),
                perm: Perm::Rw,
            },
            Branch {
                path: f.p("b1"),
                perm: Perm::RoWh,
            },
        ];
        let VNode::Dir { children, .. } = plan(&branches).unwrap() else {
            panic!()
        };
        assert!(children.contains_key("a"));
        assert!(!children.contains_key(".wh.a"));
    }
}
