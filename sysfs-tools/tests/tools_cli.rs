//! Argument handling and exit statuses of `auplink` and `auchk` (as
//! aufs-util's tools: an errno value), and `auchk` on planted leftovers in
//! a plain directory, with a fixture sysfs for the mounted-branch refusal.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Tmp(PathBuf);
impl Tmp {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tools-cli-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn file(&self, rel: &str) -> PathBuf {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, rel).unwrap();
        p
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
const AUPLINK: &str = env!("CARGO_BIN_EXE_auplink");
const AUCHK: &str = env!("CARGO_BIN_EXE_auchk");
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn auplink_usage_is_einval() {
    for args in [&[][..], &["/"], &["/", "list", "x"], &["/", "fold"], &["/", "LIST"]] {
        let (code, out, err) = run(AUPLINK, args);
        assert_eq!(code, 22, "{args:?}");
        assert!(out.is_empty() && err.starts_with("usage: auplink MOUNTPOINT list|cpup|flush"), "{args:?}: {err}");
    }
    let (code, out, _) = run(AUPLINK, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("'flush'") && out.contains("--version"));
    let (code, out, _) = run(AUPLINK, &["--version"]);
    assert_eq!((code, out.starts_with("auplink ")), (0, true));
}

#[test]
fn auplink_refuses_what_is_not_aufs() {
    let t = Tmp::new("na");
    for cmd in ["list", "cpup", "flush"] {
        let (code, out, err) = run(AUPLINK, &[t.0.to_str().unwrap(), cmd]);
        assert_eq!(code, 22, "{cmd}: {err}");
        assert!(out.is_empty() && err.contains("not aufs"), "{err}");
    }
    let (code, _, err) = run(AUPLINK, &[t.0.join("missing").to_str().unwrap(), "list"]);
    assert_eq!(code, 2, "ENOENT: {err}");
}

#[test]
fn auchk_usage() {
    let (code, _, err) = run(AUCHK, &[]);
    assert_eq!(code, 22);
    assert!(err.starts_with("usage: auchk"));
    let (code, _, err) = run(AUCHK, &["--bogus", "/x"]);
    assert_eq!(code, 22);
    assert!(err.contains("unknown option --bogus"));
    let (code, _, _) = run(AUCHK, &["--sysfs-aufs"]);
    assert_eq!(code, 22);
    let (code, out, _) = run(AUCHK, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--dry-run"));
    let t = Tmp::new("nd");
    let f = t.file("plain");
    let sys = t.0.join("sys");
    let (code, _, err) = run(AUCHK, &["-n", "--sysfs-aufs", sys.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(code, 20, "ENOTDIR: {err}");
    let (code, _, _) = run(AUCHK, &["-n", "--sysfs-aufs", sys.to_str().unwrap(), t.0.join("none").to_str().unwrap()]);
    assert_eq!(code, 2, "ENOENT");
}

fn plant(t: &Tmp) -> PathBuf {
    t.file("br/keep/f");
    t.file("br/keep/.wh..wh.cpup.9a");
    t.file("br/.wh..wh.rmdir.3/.wh.x");
    t.file("br/.wh..wh.orph/7");
    t.file("br/.wh..wh.plnk/803.1.2");
    t.file("br/.wh.gone");
    t.0.join("br")
}

#[test]
fn auchk_dry_run_then_removal() {
    let t = Tmp::new("run");
    let br = plant(&t);
    let sys = t.0.join("sys");
    let sys = sys.to_str().unwrap();
    let (code, out, err) = run(AUCHK, &["--dry-run", "--sysfs-aufs", sys, br.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("would remove ")).count(), 3, "{out}");
    assert!(out.contains("3 leftover(s) found, 1 pseudo-link(s) kept"), "{out}");
    assert!(br.join("keep/.wh..wh.cpup.9a").exists(), "dry run removes nothing");
    if !is_root() {
        let (code, _, _) = run(AUCHK, &["--sysfs-aufs", sys, br.to_str().unwrap()]);
        assert_eq!(code, 1, "EPERM");
        return;
    }
    let (code, out, err) = run(AUCHK, &["--sysfs-aufs", sys, br.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let removed: Vec<&str> = out.lines().filter(|l| l.starts_with("removed ")).collect();
    assert_eq!(removed.len(), 3, "{out}");
    assert!(!br.join("keep/.wh..wh.cpup.9a").exists() && !br.join(".wh..wh.rmdir.3").exists());
    assert!(!br.join(".wh..wh.orph/7").exists() && br.join(".wh..wh.orph").is_dir());
    assert!(br.join(".wh..wh.plnk/803.1.2").exists() && br.join(".wh.gone").exists() && br.join("keep/f").exists());
    let (code, out, _) = run(AUCHK, &["--sysfs-aufs", sys, br.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("0 leftover(s) removed"), "{out}");
}

#[test]
fn auchk_refuses_a_mounted_branch_and_checks_the_others() {
    let t = Tmp::new("busy");
    let br = plant(&t);
    let other = t.0.join("other");
    fs::create_dir_all(other.join("d")).unwrap();
    fs::write(other.join("d/.wh..wh.cpup.1"), "x").unwrap();
    let canon = fs::canonicalize(&br).unwrap();
    let sys = t.0.join("sys");
    fs::create_dir_all(sys.join("si_abc")).unwrap();
    fs::write(sys.join("si_abc/br0"), format!("{}=rw\n", canon.display())).unwrap();
    fs::write(sys.join("si_abc/br1"), "/elsewhere=ro\n").unwrap();
    let args = ["-n", "--sysfs-aufs", sys.to_str().unwrap()];
    // The branch itself, a directory inside it, one that holds it.
    for d in [br.clone(), br.join("keep"), t.0.clone()] {
        let mut a = args.to_vec();
        a.push(d.to_str().unwrap());
        let (code, out, err) = run(AUCHK, &a);
        assert_eq!(code, 16, "{d:?}: {out} {err}");
        assert!(err.contains("branch of a mounted aufs (si_abc)"), "{err}");
        assert!(out.is_empty());
    }
    let mut a = args.to_vec();
    a.push(br.to_str().unwrap());
    a.push(other.to_str().unwrap());
    let (code, out, _) = run(AUCHK, &a);
    assert_eq!(code, 16);
    assert!(out.contains("would remove ") && out.contains(".wh..wh.cpup.1"), "the other is checked: {out}");
    assert!(Path::new(&br.join("keep/.wh..wh.cpup.9a")).exists());
}
