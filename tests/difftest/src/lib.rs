//! aufs-difftest: a POSIX-parity differential tester for the aufs module.
//!
//! The same random sequence of filesystem operations is applied to (A) an
//! aufs union mount and (B) a plain directory holding the union's flattened
//! view, computed by [`flatten`] from the branches.  Every operation's
//! outcome and the final trees must match, except for the deliberate
//! differences listed in README.md.
//!
//! Modules: [`rng`] (PRNG), [`sys`] (syscalls), [`fixture`] (random
//! branches), [`flatten`] (aufs lookup rules), [`gen`] + [`ops`] (operations),
//! [`tree`] (walk and compare), [`env`] (setup/teardown), [`model`] (what
//! the reference models by hand: lower hard links, RENAME_WHITEOUT),
//! [`privs`] (unprivileged seeds), [`runner`] (with the drop_caches/remount
//! checkpoints), [`wire`] (results of forked runs), [`watch`] (hang detection), [`shrink`] (delta
//! debugging), [`tap`] (kselftest output), [`suite`].

pub mod env;
pub mod fixture;
pub mod flatten;
pub mod gen;
pub mod model;
pub mod ops;
pub mod privs;
pub mod rng;
pub mod runner;
pub mod shrink;
pub mod suite;
pub mod sys;
pub mod tap;
pub mod tree;
pub mod watch;
pub mod wire;
