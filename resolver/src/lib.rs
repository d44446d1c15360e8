//! This crate turns Go function names and patterns into uprobe attach points: the file offset
//! of each function's entry and of the point just past its stack-bound check, the file offset
//! of every return instruction, the calling convention, and where each argument and result
//! lives (a register, or an offset from the stack pointer at the probe) with its Go type.
//!
//! It reads the binary through the `pclntab` crate, takes types from DWARF when the binary (or
//! a debug file) has it, from a signature the user writes, from the binary's type descriptors,
//! from gosyms' table of the standard library's signatures ([`stdsigs`]), or from the runtime's
//! own `FUNCDATA_ArgInfo` as raw words, and never guesses: every layout not from DWARF is
//! checked against what the binary records ([`check`]), and what it cannot prove it reports as
//! such.
//!
//! # Overview
//! - [`Pattern`] parses what the user typed: a name, a glob, `re:REGEX`, or a signature
//!   ([`signature`]).
//! - [`Resolver::resolve`] gives one [`Plan`] per matching function: [`disasm`] finds its return
//!   instructions and the end of its stack check, [`abi`] lays out its arguments and results,
//!   from [`dwarf`], the signature or [`arginfo`]; [`goid`] says where the goroutine id is.
//!
//! ```no_run
//! let map = pclntab::map_file(std::path::Path::new("./server"))?;
//! let bin = pclntab::GoBinary::parse(&map)?;
//! let patterns = [resolver::Pattern::parse("main.*")?];
//! for plan in resolver::Resolver::new(&bin, None)?.resolve(&patterns)? {
//!     println!("{}: entry probe at file offset {:#x}, {} return sites",
//!         plan.function, plan.entry_probe.file_offset, plan.returns.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod abi;
pub mod arginfo;
pub mod check;
pub mod described;
pub mod disasm;
pub mod dwarf;
pub mod goid;
pub mod pattern;
pub mod plan;
mod resolve;
pub mod signature;
pub mod stdsigs;
pub mod types;

pub use pattern::Pattern;
pub use plan::{Goid, LayoutSource, Plan, Site};
pub use resolve::{ResolveError, Resolver};
