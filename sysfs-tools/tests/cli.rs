//! Runs the `aubr` binary against fixture trees (`proc/` and `sys/` below a
//! temporary directory passed as `--root`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

/// A temporary root directory, removed on drop.
struct Fixture {
    root: PathBuf,
}

/// The result of one run of `aubr`.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

const FILESYSTEMS_WITH_AUFS: &str = "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\taufs\n";

/// Mount table shared by most tests: two aufs mounts among others.
const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
24 22 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
100 22 0:50 / /mnt/union rw,relatime shared:40 - aufs none rw,si=3a5c7e9b,xino=/tmp/.aufs.xino
101 22 0:51 / /srv/my\\040union rw master:3 - aufs union\\040src ro,si=ff01,noxino
";

const TABLE: &str = "\
/mnt/union si=3a5c7e9b
0   1  rw     /tmp/rw
1   2  ro+wh  /srv/ro data
2  17  rr     /opt/a=b

/srv/my union si=ff01
0  5  rw+nolwh  /data/top
";

impl Fixture {
    /// An empty root directory, unique per test and process.
    fn empty(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root =
            std::env::temp_dir().join(format!("aubr-test-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Fixture { root }
    }

    /// A root where aufs is loaded and `mountinfo` is the mount table.
    fn loaded(name: &str, mountinfo: &str) -> Self {
        let f = Self::empty(name);
        f.write("proc/filesystems", FILESYSTEMS_WITH_AUFS);
        f.write("proc/self/mountinfo", mountinfo);
        f
    }

    /// The standard fixture: [`MOUNTINFO`] with sysfs for both aufs mounts.
    fn standard(name: &str) -> Self {
        let f = Self::loaded(name, MOUNTINFO);
        f.sysfs(
            "3a5c7e9b",
            &[
                ("/tmp/rw=rw\n", Some("1\n")),
                ("/srv/ro\\040data=ro+wh\n", Some("2\n")),
                ("/opt/a=b=rr\n", Some("17\n")),
            ],
            Some("/tmp/.aufs.xino\n"),
        );
        f.sysfs("ff01", &[("/data/top=rw+nolwh\n", Some("5\n"))], Some("\n"));
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes `content` to `rel` below the root, creating parents.
    fn write(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    /// Creates `sys/fs/aufs/si_<si>/` with `br<N>`, `brid<N>` and `xi_path`.
    fn sysfs(&self, si: &str, branches: &[(&str, Option<&str>)], xi_path: Option<&str>) {
        let dir = format!("sys/fs/aufs/si_{si}");
        fs::create_dir_all(self.path(&dir)).unwrap();
        for (i, (br, id)) in branches.iter().enumerate() {
            self.write(&format!("{dir}/br{i}"), br);
            if let Some(id) = id {
                self.write(&format!("{dir}/brid{i}"), id);
            }
        }
        if let Some(xi) = xi_path {
            self.write(&format!("{dir}/xi_path"), xi);
        }
    }

    /// Runs `aubr --root <root> args...`.
    fn run(&self, args: &[&str]) -> Run {
        run_with_root(&self.root, args)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn run_with_root(root: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_aubr"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run aubr");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn parse_json(stdout: &str) -> Vec<Value> {
    match serde_json::from_str(stdout) {
        Ok(Value::Array(items)) => items,
        other => panic!("not a JSON array: {other:?}\n{stdout}"),
    }
}

/// Asserts every stderr line is a one-line `aubr: ` message, returns them.
fn stderr_lines(run: &Run) -> Vec<&str> {
    let lines: Vec<&str> = run.stderr.lines().collect();
    for line in &lines {
        assert!(
            line.starts_with("aubr: "),
            "unprefixed stderr line {line:?}"
        );
    }
    lines
}

#[test]
fn table_lists_all_aufs_mounts() {
    let f = Fixture::standard("table");
    let run = f.run(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, TABLE);
    assert_eq!(run.stderr, "");
}

#[test]
fn json_lists_all_aufs_mounts() {
    let f = Fixture::standard("json");
    let run = f.run(&["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let mounts = parse_json(&run.stdout);
    assert_eq!(mounts.len(), 2);

    let union = &mounts[0];
    assert_eq!(union["mountpoint"], "/mnt/union");
    assert_eq!(union["source"], "none");
    assert_eq!(union["si"], "3a5c7e9b");
    assert_eq!(union["xino_path"], "/tmp/.aufs.xino");
    assert_eq!(
        union["branches"],
        json!([
            {"index": 0, "id": 1, "path": "/tmp/rw", "perm": "rw",
             "attrs": [], "writable": true},
            {"index": 1, "id": 2, "path": "/srv/ro data", "perm": "ro",
             "attrs": ["wh"], "writable": false},
            {"index": 2, "id": 17, "path": "/opt/a=b", "perm": "rr",
             "attrs": [], "writable": false},
        ])
    );

    // Empty xi_path means no xino; escapes in mountinfo are decoded.
    assert_eq!(
        mounts[1],
        json!({
            "mountpoint": "/srv/my union",
            "source": "union src",
            "si": "ff01",
            "xino_path": null,
            "branches": [{"index": 0, "id": 5, "path": "/data/top", "perm": "rw",
                          "attrs": ["nolwh"], "writable": true}],
        })
    );
}

#[test]
fn mountpoint_arguments_select_mounts_in_argument_order() {
    let f = Fixture::standard("select");
    // Trailing slashes are ignored under --root.
    let run = f.run(&["/srv/my union/", "/mnt/union"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "/srv/my union si=ff01\n0  5  rw+nolwh  /data/top\n\n\
         /mnt/union si=3a5c7e9b\n0   1  rw     /tmp/rw\n1   2  ro+wh  /srv/ro data\n2  17  rr     /opt/a=b\n"
    );

    let run = f.run(&["--json", "/mnt/union"]);
    assert_eq!(run.code, 0, "{run:?}");
    let mounts = parse_json(&run.stdout);
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["si"], "3a5c7e9b");
}

#[test]
fn not_an_aufs_mount_fails_but_prints_the_others() {
    let f = Fixture::standard("notaufs");
    let run = f.run(&["/", "/mnt/union", "/nowhere", "/mnt"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.starts_with("/mnt/union si=3a5c7e9b\n"));
    assert!(!run.stdout.contains("ff01"));
    assert_eq!(
        stderr_lines(&run),
        [
            "aubr: /: not an aufs mount",
            "aubr: /nowhere: not an aufs mount",
            "aubr: /mnt: not an aufs mount",
        ]
    );

    let run = f.run(&["--json", "/proc", "/srv/my union"]);
    assert_eq!(run.code, 1, "{run:?}");
    let mounts = parse_json(&run.stdout);
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["mountpoint"], "/srv/my union");
    assert_eq!(stderr_lines(&run), ["aubr: /proc: not an aufs mount"]);
}

#[test]
fn aufs_not_loaded_exits_2() {
    let f = Fixture::empty("notloaded");
    f.write("proc/filesystems", "nodev\tsysfs\nnodev\taufsx\n\text4\n");
    f.write("proc/self/mountinfo", MOUNTINFO);
    for args in [&[][..], &["--json"], &["/mnt/union"]] {
        let run = f.run(args);
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(
            run.stderr,
            "aubr: aufs is not loaded (no \"aufs\" in /proc/filesystems)\n"
        );
    }
}

#[test]
fn missing_sysfs_dir_exits_1_and_names_it() {
    let f = Fixture::standard("nosysfs");
    let mut mountinfo = MOUNTINFO.to_owned();
    mountinfo.push_str("102 22 0:52 / /mnt/stale rw - aufs none rw,si=dead01\n");
    f.write("proc/self/mountinfo", &mountinfo);

    let run = f.run(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, TABLE, "the other mounts are still shown");
    let missing = f.path("sys/fs/aufs/si_dead01");
    let lines = stderr_lines(&run);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("aubr: /mnt/stale: ")
            && lines[0].contains(&*missing.to_string_lossy()),
        "{lines:?}"
    );

    let run = f.run(&["--json", "/mnt/stale"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(parse_json(&run.stdout), Vec::<Value>::new());
}

#[test]
fn no_aufs_mounts_prints_nothing() {
    let f = Fixture::loaded(
        "nomounts",
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n23 22 0:21 / /proc rw - proc proc rw\n",
    );
    let run = f.run(&[]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", "")
    );
    let run = f.run(&["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim_end(), "[]");
    assert_eq!(run.stderr, "");

    let empty = Fixture::loaded("emptymountinfo", "");
    let run = empty.run(&["--json"]);
    assert_eq!((run.code, run.stdout.trim_end()), (0, "[]"));
}

#[test]
fn stacked_mounts_use_the_visible_one() {
    let f = Fixture::loaded(
        "stacked",
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
         30 22 0:50 / /u rw - aufs none rw,si=a1\n\
         31 30 0:51 / /u rw - aufs none rw,si=b2\n\
         32 22 0:52 / /v rw - aufs none rw,si=c3\n\
         33 32 0:53 / /v rw - tmpfs tmpfs rw\n",
    );
    f.sysfs("a1", &[("/lower=ro\n", Some("1\n"))], None);
    f.sysfs("b2", &[("/upper=rw\n", Some("2\n"))], None);
    f.sysfs("c3", &[("/hidden=rw\n", Some("3\n"))], None);

    let run = f.run(&["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let sis: Vec<Value> = parse_json(&run.stdout)
        .iter()
        .map(|m| m["si"].clone())
        .collect();
    assert_eq!(sis, ["a1", "b2", "c3"]);

    let run = f.run(&["--json", "/u"]);
    assert_eq!(run.code, 0, "{run:?}");
    let mounts = parse_json(&run.stdout);
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["si"], "b2");

    let run = f.run(&["/v"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(stderr_lines(&run), ["aubr: /v: not an aufs mount"]);
}

#[test]
fn missing_brid_and_xi_path_are_null() {
    let f = Fixture::loaded("nobrid", "30 1 0:50 / /u rw - aufs none rw,si=7\n");
    f.sysfs("7", &[("/a=rw\n", None), ("/b=ro\n", Some("9\n"))], None);

    let run = f.run(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "/u si=7\n0  -  rw  /a\n1  9  ro  /b\n");

    let mounts = parse_json(&f.run(&["--json"]).stdout);
    assert_eq!(mounts[0]["xino_path"], Value::Null);
    assert_eq!(mounts[0]["branches"][0]["id"], Value::Null);
    assert_eq!(mounts[0]["branches"][1]["id"], 9);
}

#[test]
fn branches_stop_at_the_first_gap() {
    let f = Fixture::loaded("gap", "30 1 0:50 / /u rw - aufs none rw,si=7\n");
    f.sysfs("7", &[("/a=rw\n", Some("1\n"))], None);
    f.write("sys/fs/aufs/si_7/br2", "/c=ro\n");
    let mounts = parse_json(&f.run(&["--json"]).stdout);
    assert_eq!(mounts[0]["branches"].as_array().unwrap().len(), 1);
}

#[test]
fn malformed_files_are_reported() {
    let f = Fixture::loaded(
        "malformed",
        "30 1 0:50 / /u rw - aufs none rw,si=7\n\
         this line is broken\n\
         31 1 0:51 / /w rw - aufs none rw,si=8\n\
         32 1 0:52 / /x rw - aufs none rw,si=9\n\
         33 1 0:53 / /y rw - aufs none rw\n\
         34 1 0:54 / /z rw - aufs none rw,si=../../etc\n",
    );
    f.sysfs("7", &[("/a=rw\n", Some("1\n"))], None);
    f.sysfs(
        "8",
        &[("/a=rw\n", Some("1\n")), ("/no-perm\n", Some("2\n"))],
        None,
    );
    f.sysfs("9", &[], None);

    let run = f.run(&["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let mounts = parse_json(&run.stdout);
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["mountpoint"], "/u");

    let lines = stderr_lines(&run);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let mountinfo = f.path("proc/self/mountinfo");
    assert!(lines[0].starts_with(&format!("aubr: {}:2: ", mountinfo.display())));
    let br1 = f.path("sys/fs/aufs/si_8/br1");
    assert!(lines[1].starts_with(&format!("aubr: {}: ", br1.display())));
    assert!(
        lines[2].starts_with("aubr: /x: no branches in "),
        "{lines:?}"
    );
    assert_eq!(lines[3], "aubr: /y: no si= in the super options");
    assert_eq!(lines[4], "aubr: /z: bad si=../../etc in the super options");
}

#[test]
fn unreadable_proc_is_an_error() {
    let f = Fixture::empty("noproc");
    let run = f.run(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    let lines = stderr_lines(&run);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains(&*f.path("proc/filesystems").to_string_lossy()));

    f.write("proc/filesystems", FILESYSTEMS_WITH_AUFS);
    let run = f.run(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = stderr_lines(&run);
    assert!(lines[0].contains(&*f.path("proc/self/mountinfo").to_string_lossy()));
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let f = Fixture::standard("usage");
    let run = f.run(&["--no-such-flag"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(stderr_lines(&run).len(), 1);
}

#[test]
fn help_mentions_json_and_hides_root() {
    let f = Fixture::empty("help");
    let run = f.run(&["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("--json"));
    assert!(!run.stdout.contains("--root"));
}
