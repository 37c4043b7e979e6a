//! Unit tests of the parsers and the table output.

use super::*;

// --- unescape / escape_for_display

#[test]
fn unescape_kernel_escapes() {
    assert_eq!(unescape(r"/mnt/my\040dir"), "/mnt/my dir");
    assert_eq!(unescape(r"a\011b"), "a\tb");
    assert_eq!(unescape(r"a\012b"), "a\nb");
    assert_eq!(unescape(r"a\134b"), r"a\b");
    assert_eq!(unescape(r"\040\040"), "  ");
    assert_eq!(unescape(r"end\040"), "end ");
}

#[test]
fn unescape_keeps_plain_text_and_bad_escapes() {
    assert_eq!(unescape("/plain/path=x"), "/plain/path=x");
    assert_eq!(unescape(""), "");
    assert_eq!(unescape(r"a\b"), r"a\b");
    assert_eq!(unescape(r"a\04"), r"a\04");
    assert_eq!(unescape(r"a\049"), r"a\049");
    assert_eq!(unescape(r"\"), r"\");
    // \400 does not fit in a byte.
    assert_eq!(unescape(r"\400"), r"\400");
}

#[test]
fn unescape_decodes_multibyte_utf8() {
    assert_eq!(unescape(r"caf\303\251"), "café");
    assert_eq!(unescape("café"), "café");
    // A lone invalid byte becomes U+FFFD instead of failing.
    assert_eq!(unescape(r"x\377y"), "x\u{fffd}y");
}

#[test]
fn escape_for_display_keeps_lines_single() {
    assert_eq!(escape_for_display("/a b"), "/a b");
    assert!(matches!(escape_for_display("/a b"), Cow::Borrowed(_)));
    assert_eq!(escape_for_display("a\nb\tc\\d"), r"a\012b\011c\134d");
    assert_eq!(unescape(&escape_for_display("x\ny\\z")), "x\ny\\z");
}

// --- mountinfo

#[test]
fn mountinfo_example_from_proc_5() {
    let m = parse_mountinfo_line(
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
    )
    .unwrap();
    assert_eq!(
        m,
        MountInfo {
            mount_id: 36,
            parent_id: 35,
            major: 98,
            minor: 0,
            root: "/mnt1".into(),
            mount_point: "/mnt2".into(),
            mount_options: "rw,noatime".into(),
            optional_fields: vec!["master:1".into()],
            fstype: "ext3".into(),
            source: "/dev/root".into(),
            super_options: "rw,errors=continue".into(),
        }
    );
    assert!(!m.is_aufs());
    assert_eq!(m.si(), None);
}

#[test]
fn mountinfo_aufs_with_si() {
    let m = parse_mountinfo_line(
        "120 25 0:52 / /mnt/u rw,relatime - aufs none rw,si=9c3e1f2a,xino=/tmp/x\n",
    )
    .unwrap();
    assert!(m.is_aufs());
    assert!(m.optional_fields.is_empty());
    assert_eq!(m.source, "none");
    assert_eq!(m.si(), Some("9c3e1f2a"));
    assert_eq!(m.super_options, "rw,si=9c3e1f2a,xino=/tmp/x");
}

#[test]
fn mountinfo_several_optional_fields() {
    let m = parse_mountinfo_line(
        "40 1 0:40 / /srv rw shared:5 master:2 propagate_from:1 unbindable - aufs none rw,si=1",
    )
    .unwrap();
    assert_eq!(
        m.optional_fields,
        ["shared:5", "master:2", "propagate_from:1", "unbindable"]
    );
    assert_eq!(m.fstype, "aufs");
    assert_eq!(m.si(), Some("1"));
}

#[test]
fn mountinfo_escaped_mount_point_and_source() {
    let m = parse_mountinfo_line(
        r"50 1 0:41 /sub\040dir /mnt/with\040space\011tab\134bs rw - aufs my\040src rw,si=ab",
    )
    .unwrap();
    assert_eq!(m.root, "/sub dir");
    assert_eq!(m.mount_point, "/mnt/with space\ttab\\bs");
    assert_eq!(m.source, "my src");
}

#[test]
fn mountinfo_dash_in_paths_is_not_the_separator() {
    // A mount point called "-" sits among the fixed fields.
    let m = parse_mountinfo_line("7 1 0:5 - /- rw - tmpfs - rw").unwrap();
    assert_eq!(m.root, "-");
    assert_eq!(m.mount_point, "/-");
    assert_eq!(m.fstype, "tmpfs");
    assert_eq!(m.source, "-");
}

#[test]
fn mountinfo_empty_source() {
    // Some kernels print an empty device name as nothing at all.
    let m = parse_mountinfo_line("8 1 0:6 / /x rw - tmpfs  rw,size=10k").unwrap();
    assert_eq!(m.source, "");
    assert_eq!(m.super_options, "rw,size=10k");
}

#[test]
fn mountinfo_non_aufs_lines() {
    for line in [
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
        "23 22 0:21 / /proc rw,nosuid - proc proc rw",
        "24 22 0:22 / /sys rw - sysfs sysfs rw",
        "25 22 0:23 / /run/user/1000/gvfs rw - fuse.gvfsd-fuse gvfsd-fuse rw,user_id=1000",
    ] {
        let m = parse_mountinfo_line(line).unwrap();
        assert!(!m.is_aufs(), "{line}");
    }
}

#[test]
fn mountinfo_rejects_malformed_lines() {
    for line in [
        "",
        "garbage",
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw",
        "36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root",
        "x 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw",
        "36 35 98-0 /mnt1 /mnt2 rw - ext3 /dev/root rw",
        "36 35 98:z /mnt1 /mnt2 rw - ext3 /dev/root rw",
        "36 35 98:0 /mnt1 /mnt2 rw -  /dev/root rw",
    ] {
        assert!(parse_mountinfo_line(line).is_err(), "accepted {line:?}");
    }
}

#[test]
fn si_option_lookup_and_validation() {
    let mut m = parse_mountinfo_line("1 0 0:1 / /u rw - aufs none rw,xino=/x,si=0f").unwrap();
    assert_eq!(m.si(), Some("0f"));
    m.super_options = "rw,nosi=1,xsi=2".into();
    assert_eq!(m.si(), None);
    assert!(is_valid_si("9c3e1f2a"));
    assert!(!is_valid_si(""));
    assert!(!is_valid_si("9C3E"));
    assert!(!is_valid_si("0x12"));
    assert!(!is_valid_si("../x"));
}

#[test]
fn filesystems_listing() {
    let listing = "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\taufs\n";
    assert!(filesystems_has(listing, "aufs"));
    assert!(filesystems_has(listing, "ext4"));
    assert!(!filesystems_has(listing, "xfs"));
    assert!(!filesystems_has("nodev\taufsx\n\tnotaufs\n", "aufs"));
    assert!(!filesystems_has("", "aufs"));
}

// --- br<N> / brid<N>

fn br(path: &str, perm: &str, attrs: &[&str]) -> BrLine {
    BrLine {
        path: path.into(),
        perm: perm.into(),
        attrs: attrs.iter().map(|a| (*a).to_owned()).collect(),
    }
}

#[test]
fn br_line_perms_and_attrs() {
    let cases: [(&str, BrLine); 8] = [
        ("/tmp/rw=rw\n", br("/tmp/rw", "rw", &[])),
        ("/tmp/ro=ro\n", br("/tmp/ro", "ro", &[])),
        ("/tmp/rr=rr\n", br("/tmp/rr", "rr", &[])),
        ("/b=ro+wh\n", br("/b", "ro", &["wh"])),
        ("/b=rw+nolwh\n", br("/b", "rw", &["nolwh"])),
        ("/b=rr+wh\n", br("/b", "rr", &["wh"])),
        ("/b=rw+coo_reg+unpin", br("/b", "rw", &["coo_reg", "unpin"])),
        ("/b=ro+wh+dirperm1\n", br("/b", "ro", &["wh", "dirperm1"])),
    ];
    for (input, want) in cases {
        assert_eq!(parse_br_line(input).unwrap(), want, "{input:?}");
    }
}

#[test]
fn br_line_path_with_equals_and_escapes() {
    assert_eq!(
        parse_br_line("/srv/a=b=ro+wh\n").unwrap(),
        br("/srv/a=b", "ro", &["wh"])
    );
    assert_eq!(parse_br_line("/x==rw\n").unwrap(), br("/x=", "rw", &[]));
    assert_eq!(
        parse_br_line("/srv/my\\040branch\\012nl\\134=x=rw\n").unwrap(),
        br("/srv/my branch\nnl\\=x", "rw", &[])
    );
}

#[test]
fn br_line_rejects_malformed() {
    for input in [
        "",
        "\n",
        "/no/perm\n",
        "=rw\n",
        "/x=\n",
        "/x=xx\n",
        "/x=RW\n",
        "/x=rw+\n",
        "/x=rw++wh\n",
        "/x=rw+W H\n",
        "/x=rw\n/y=ro\n",
        "/x=rw\n\n",
    ] {
        assert!(parse_br_line(input).is_err(), "accepted {input:?}");
    }
}

#[test]
fn branch_id_parsing() {
    assert_eq!(parse_branch_id("7\n"), Ok(7));
    assert_eq!(parse_branch_id("123"), Ok(123));
    assert!(parse_branch_id("").is_err());
    assert!(parse_branch_id("-1\n").is_err());
    assert!(parse_branch_id("x\n").is_err());
}

// --- output

fn branch(index: usize, id: Option<u64>, path: &str, perm: &str, attrs: &[&str]) -> Branch {
    Branch {
        index,
        id,
        path: path.into(),
        perm: perm.into(),
        attrs: attrs.iter().map(|a| (*a).to_owned()).collect(),
        writable: perm == "rw",
    }
}

#[test]
fn perm_spec_joins_attrs() {
    assert_eq!(
        branch(0, None, "/a", "ro", &["wh", "unpin"]).perm_spec(),
        "ro+wh+unpin"
    );
    assert_eq!(branch(0, None, "/a", "rw", &[]).perm_spec(), "rw");
}

#[test]
fn table_is_aligned() {
    let mounts = [
        AufsMount {
            mountpoint: "/mnt/u".into(),
            source: "none".into(),
            si: "ab12".into(),
            xino_path: None,
            branches: (0..11)
                .map(|i| branch(i, Some(i as u64 * 100), "/b", "ro", &[]))
                .chain([branch(11, None, "/w x", "rw", &["nolwh"])])
                .collect(),
        },
        AufsMount {
            mountpoint: "/new\nline".into(),
            source: "none".into(),
            si: "1".into(),
            xino_path: None,
            branches: vec![branch(0, Some(3), "/t\tab", "rr", &[])],
        },
    ];
    let text = Table(&mounts).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "/mnt/u si=ab12");
    assert_eq!(lines[1], " 0     0  ro        /b");
    assert_eq!(lines[2], " 1   100  ro        /b");
    assert_eq!(lines[11], "10  1000  ro        /b");
    assert_eq!(lines[12], "11     -  rw+nolwh  /w x");
    assert_eq!(lines[13], "");
    assert_eq!(lines[14], r"/new\012line si=1");
    assert_eq!(lines[15], r"0  3  rr  /t\011ab");
    assert_eq!(lines.len(), 16);
    assert!(text.ends_with('\n'));
    assert_eq!(Table(&[]).to_string(), "");
}

#[test]
fn json_shape() {
    let mounts = [AufsMount {
        mountpoint: "/u".into(),
        source: "none".into(),
        si: "5".into(),
        xino_path: Some("/tmp/.aufs.xino".into()),
        branches: vec![branch(0, Some(1), "/rw", "rw", &[])],
    }];
    let v: serde_json::Value = serde_json::from_str(&to_json(&mounts).unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "mountpoint": "/u",
            "source": "none",
            "si": "5",
            "xino_path": "/tmp/.aufs.xino",
            "branches": [{
                "index": 0, "id": 1, "path": "/rw", "perm": "rw",
                "attrs": [], "writable": true
            }]
        }])
    );
    assert_eq!(to_json(&[]).unwrap(), "[]");
}

#[test]
fn error_messages_are_single_lines() {
    let errors = [
        Error::NotLoaded,
        Error::NotAufs {
            path: "/a\nb".into(),
        },
        Error::MissingSysfs {
            mountpoint: "/m\n".into(),
            dir: "/sys/fs/aufs/si_1".into(),
        },
        Error::BadSi {
            mountpoint: "/m".into(),
            si: Some("x\ny".into()),
        },
        Error::Parse {
            path: "/proc/self/mountinfo".into(),
            line: Some(3),
            error: ParseError::new("bad"),
        },
    ];
    for e in &errors {
        assert!(!e.to_string().contains('\n'), "{e:?}");
    }
    assert_eq!(
        Error::NotLoaded.to_string(),
        "aufs is not loaded (no \"aufs\" in /proc/filesystems)"
    );
    assert_eq!(errors[1].to_string(), r"/a\012b: not an aufs mount");
    assert_eq!(errors[4].to_string(), "/proc/self/mountinfo:3: bad");
    assert_eq!(Error::NotLoaded.exit_code(), 2);
    assert_eq!(errors[1].exit_code(), 1);
}

#[test]
fn resolve_target_canonicalizes_only_on_the_real_root() {
    let dir = std::env::temp_dir().join(format!("aubr-unit-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("real")).unwrap();
    std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
    let real = fs::canonicalize(dir.join("real")).unwrap();

    let link = dir.join("link/");
    assert_eq!(resolve_target(Path::new("/"), &link), real);
    assert_eq!(
        resolve_target(Path::new("/"), &dir.join("real/../real")),
        real
    );
    // Missing paths are kept as given.
    assert_eq!(
        resolve_target(Path::new("/"), Path::new("/no/such/aubr/path")),
        Path::new("/no/such/aubr/path")
    );
    // Under another root nothing is resolved; trailing slashes don't matter.
    assert_eq!(resolve_target(Path::new("/fixture"), &link), link);
    assert_eq!(
        resolve_target(Path::new("/fixture"), Path::new("/mnt/u/")),
        Path::new("/mnt/u")
    );
    let _ = fs::remove_dir_all(&dir);
}
