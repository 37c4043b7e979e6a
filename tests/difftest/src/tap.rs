//! kselftest-style TAP output.

use std::io::Write;

/// kselftest's exit code for "skipped".
pub const KSFT_SKIP: i32 = 4;

#[derive(Default)]
pub struct Tap {
    n: usize,
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Tap {
    /// Prints the header and the plan.
    pub fn start(planned: usize) -> Tap {
        println!("TAP version 13");
        println!("1..{planned}");
        flush();
        Tap::default()
    }

    pub fn diag(&self, line: &str) {
        println!("# {line}");
        flush();
    }

    pub fn ok(&mut self, desc: &str) {
        self.n += 1;
        self.pass += 1;
        println!("ok {} {desc}", self.n);
        flush();
    }

    /// A failed test followed by its `# ` diagnostic lines.
    pub fn not_ok(&mut self, desc: &str, diag: &[String]) {
        self.n += 1;
        self.fail += 1;
        println!("not ok {} {desc}", self.n);
        for l in diag {
            println!("# {l}");
        }
        flush();
    }

    pub fn skip(&mut self, desc: &str, reason: &str) {
        self.n += 1;
        self.skip += 1;
        println!("ok {} {desc} # SKIP {reason}", self.n);
        flush();
    }

    /// The kselftest totals line.
    pub fn totals(&self) {
        println!(
            "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:0",
            self.pass, self.fail, self.skip
        );
        flush();
    }

    /// kselftest exit code: 1 on any failure, 4 when everything was skipped.
    pub fn exit_code(&self) -> i32 {
        if self.fail > 0 {
            1
        } else if self.pass == 0 && self.skip > 0 {
            KSFT_SKIP
        } else {
            0
        }
    }
}

fn flush() {
    let _ = std::io::stdout().flush();
}
