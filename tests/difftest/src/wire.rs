//! A small binary encoding, to bring the result of an unprivileged run
//! (executed in a forked child, see runner.rs) back to the parent: integers
//! little-endian, byte strings with a u64 length.

use crate::ops::{Op, KINDS};

#[derive(Default)]
pub struct Enc {
    pub buf: Vec<u8>,
}

impl Enc {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.usize(v.len());
        self.buf.extend_from_slice(v);
    }
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub fn strs(&mut self, v: &[String]) {
        self.usize(v.len());
        for s in v {
            self.str(s);
        }
    }
}

pub struct Dec<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Decoding error: the data is truncated or malformed.
#[derive(Debug, PartialEq, Eq)]
pub struct Bad;

pub type DecResult<T> = Result<T, Bad>;

impl<'a> Dec<'a> {
    pub fn new(data: &'a [u8]) -> Dec<'a> {
        Dec { data, pos: 0 }
    }
    pub fn done(&self) -> bool {
        self.pos == self.data.len()
    }
    fn take(&mut self, n: usize) -> DecResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Bad)?;
        let s = self.data.get(self.pos..end).ok_or(Bad)?;
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> DecResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn bool(&mut self) -> DecResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Bad),
        }
    }
    pub fn u32(&mut self) -> DecResult<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| Bad)?,
        ))
    }
    pub fn u64(&mut self) -> DecResult<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| Bad)?,
        ))
    }
    pub fn i64(&mut self) -> DecResult<i64> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| Bad)?,
        ))
    }
    pub fn usize(&mut self) -> DecResult<usize> {
        usize::try_from(self.u64()?).map_err(|_| Bad)
    }
    pub fn bytes(&mut self) -> DecResult<Vec<u8>> {
        let n = self.usize()?;
        Ok(self.take(n)?.to_vec())
    }
    pub fn str(&mut self) -> DecResult<String> {
        String::from_utf8(self.bytes()?).map_err(|_| Bad)
    }
    pub fn strs(&mut self) -> DecResult<Vec<String>> {
        let n = self.usize()?;
        (0..n).map(|_| self.str()).collect()
    }
}

/// The `&'static str` among `table` equal to `s`.
pub fn intern(table: &[&'static str], s: &str) -> DecResult<&'static str> {
    table.iter().copied().find(|k| *k == s).ok_or(Bad)
}

fn time(e: &mut Enc, t: &(i64, i64)) {
    e.i64(t.0);
    e.i64(t.1);
}

fn dtime(d: &mut Dec) -> DecResult<(i64, i64)> {
    Ok((d.i64()?, d.i64()?))
}

pub fn op(e: &mut Enc, op: &Op) {
    e.str(op.kind());
    match op {
        Op::Create {
            path,
            excl,
            trunc,
            mode,
            data,
        } => {
            e.str(path);
            e.bool(*excl);
            e.bool(*trunc);
            e.u32(*mode);
            e.bytes(data);
        }
        Op::Pwrite { path, offset, data } => {
            e.str(path);
            e.u64(*offset);
            e.bytes(data);
        }
        Op::Append { path, data } => {
            e.str(path);
            e.bytes(data);
        }
        Op::Truncate { path, len } => {
            e.str(path);
            e.u64(*len);
        }
        Op::Stat { path, follow } => {
            e.str(path);
            e.bool(*follow);
        }
        Op::Rename { from, to, flags } => {
            e.str(from);
            e.str(to);
            e.u32(*flags);
        }
        Op::Link { from, to } => {
            e.str(from);
            e.str(to);
        }
        Op::Mkdir { path, mode } | Op::Chmod { path, mode } | Op::Mkfifo { path, mode } => {
            e.str(path);
            e.u32(*mode);
        }
        Op::Symlink { target, path } => {
            e.str(target);
            e.str(path);
        }
        Op::Utimens {
            path,
            atime,
            mtime,
            nofollow,
        } => {
            e.str(path);
            e.bool(atime.is_some());
            if let Some(a) = atime {
                time(e, a);
            }
            time(e, mtime);
            e.bool(*nofollow);
        }
        Op::SetXattr {
            path,
            name,
            value,
            flags,
        } => {
            e.str(path);
            e.str(name);
            e.bytes(value);
            e.u32(*flags as u32);
        }
        Op::GetXattr { path, name } | Op::RemoveXattr { path, name } => {
            e.str(path);
            e.str(name);
        }
        Op::SetFlags { path, set, clear } => {
            e.str(path);
            e.u32(*set);
            e.u32(*clear);
        }
        Op::Read { path }
        | Op::Unlink { path }
        | Op::Rmdir { path }
        | Op::Readlink { path }
        | Op::ListXattr { path }
        | Op::Readdir { path }
        | Op::GetFlags { path } => e.str(path),
    }
}

pub fn dop(d: &mut Dec) -> DecResult<Op> {
    let kind = d.str()?;
    Ok(match intern(KINDS, &kind)? {
        "create" => Op::Create {
            path: d.str()?,
            excl: d.bool()?,
            trunc: d.bool()?,
            mode: d.u32()?,
            data: d.bytes()?,
        },
        "pwrite" => Op::Pwrite {
            path: d.str()?,
            offset: d.u64()?,
            data: d.bytes()?,
        },
        "append" => Op::Append {
            path: d.str()?,
            data: d.bytes()?,
        },
        "truncate" => Op::Truncate {
            path: d.str()?,
            len: d.u64()?,
        },
        "stat" => Op::Stat {
            path: d.str()?,
            follow: d.bool()?,
        },
        "rename" => Op::Rename {
            from: d.str()?,
            to: d.str()?,
            flags: d.u32()?,
        },
        "link" => Op::Link {
            from: d.str()?,
            to: d.str()?,
        },
        "mkdir" => Op::Mkdir {
            path: d.str()?,
            mode: d.u32()?,
        },
        "chmod" => Op::Chmod {
            path: d.str()?,
            mode: d.u32()?,
        },
        "mkfifo" => Op::Mkfifo {
            path: d.str()?,
            mode: d.u32()?,
        },
        "symlink" => Op::Symlink {
            target: d.str()?,
            path: d.str()?,
        },
        "utimensat" => {
            let path = d.str()?;
            let atime = if d.bool()? { Some(dtime(d)?) } else { None };
            Op::Utimens {
                path,
                atime,
                mtime: dtime(d)?,
                nofollow: d.bool()?,
            }
        }
        "setxattr" => Op::SetXattr {
            path: d.str()?,
            name: d.str()?,
            value: d.bytes()?,
            flags: d.u32()? as i32,
        },
        "getxattr" => Op::GetXattr {
            path: d.str()?,
            name: d.str()?,
        },
        "removexattr" => Op::RemoveXattr {
            path: d.str()?,
            name: d.str()?,
        },
        "setflags" => Op::SetFlags {
            path: d.str()?,
            set: d.u32()?,
            clear: d.u32()?,
        },
        "read" => Op::Read { path: d.str()? },
        "unlink" => Op::Unlink { path: d.str()? },
        "rmdir" => Op::Rmdir { path: d.str()? },
        "readlink" => Op::Readlink { path: d.str()? },
        "listxattr" => Op::ListXattr { path: d.str()? },
        "readdir" => Op::Readdir { path: d.str()? },
        "getflags" => Op::GetFlags { path: d.str()? },
        _ => return Err(Bad),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::Generator;
    use crate::tree::ScanEntry;

    #[test]
    fn scalars_round_trip_and_truncation_is_detected() {
        let mut e = Enc::default();
        e.u8(7);
        e.bool(true);
        e.u32(0xdead_beef);
        e.u64(u64::MAX);
        e.i64(-5);
        e.str("héllo");
        e.strs(&["a".into(), String::new()]);
        let mut d = Dec::new(&e.buf);
        assert_eq!(d.u8(), Ok(7));
        assert_eq!(d.bool(), Ok(true));
        assert_eq!(d.u32(), Ok(0xdead_beef));
        assert_eq!(d.u64(), Ok(u64::MAX));
        assert_eq!(d.i64(), Ok(-5));
        assert_eq!(d.str().as_deref(), Ok("héllo"));
        assert_eq!(d.strs(), Ok(vec!["a".to_string(), String::new()]));
        assert!(d.done());
        for cut in 0..e.buf.len() {
            let mut d = Dec::new(&e.buf[..cut]);
            let r = (|| -> DecResult<()> {
                d.u8()?;
                d.bool()?;
                d.u32()?;
                d.u64()?;
                d.i64()?;
                d.str()?;
                d.strs()?;
                Ok(())
            })();
            assert_eq!(r, Err(Bad), "cut at {cut}");
        }
    }

    #[test]
    fn generated_ops_round_trip() {
        // Every kind, from the generator over a small fake tree.
        let scan: Vec<ScanEntry> = ["a", "b", "d", "d/c", "l"]
            .iter()
            .zip(['f', 'f', 'd', 'f', 'l'])
            .map(|(p, k)| ScanEntry {
                path: p.to_string(),
                kind: k,
                size: 10,
                nlink: if *p == "a" { 2 } else { 1 },
            })
            .collect();
        let mut g = Generator::new(3, "trusted.", Some("user."));
        g.set_flagged(vec!["b".into()]);
        let mut kinds = std::collections::BTreeSet::new();
        let root = std::env::temp_dir();
        for _ in 0..3000 {
            let o = g.next(&scan, &root);
            kinds.insert(o.kind());
            let mut e = Enc::default();
            op(&mut e, &o);
            let mut d = Dec::new(&e.buf);
            assert_eq!(dop(&mut d).as_ref(), Ok(&o));
            assert!(d.done());
        }
        for k in KINDS {
            assert!(kinds.contains(k), "kind {k} never generated");
        }
    }
}
