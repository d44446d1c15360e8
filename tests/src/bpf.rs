//! The kernel's own count of BPF program runs, read without gosyms: the truth for the tests
//! that every probe hit is accounted for.
//!
//! [`RunStats`] turns run statistics on (`BPF_ENABLE_STATS`: the same switch as the sysctl
//! `kernel.bpf_stats_enabled`, counted by reference, so it is restored when the last holder
//! closes its descriptor, even if a test panics). [`hold_program`] takes a reference to the
//! program a running gosyms loaded, found through `/proc/PID/fdinfo`, so that its run count can
//! still be read after gosyms has exited.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_ENABLE_STATS: libc::c_long = 32;
const BPF_STATS_RUN_TIME: u32 = 0;
/// Offsets in `struct bpf_prog_info` (include/uapi/linux/bpf.h).
const INFO_NAME: usize = 64;
const INFO_RUN_CNT: usize = 200;
const INFO_SIZE: usize = 232;

fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<libc::c_long> {
    // SAFETY: attr is a zeroed bpf_attr of the size passed; pointers in it outlive the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd(r: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor.
    unsafe { OwnedFd::from_raw_fd(r as RawFd) }
}

/// BPF run statistics on while this lives.
pub struct RunStats(#[allow(dead_code)] OwnedFd);

impl RunStats {
    /// Turns run counting on.
    pub fn enable() -> RunStats {
        let mut attr = [0u8; 16];
        attr[..4].copy_from_slice(&BPF_STATS_RUN_TIME.to_ne_bytes());
        let r = bpf(BPF_ENABLE_STATS, &mut attr)
            .unwrap_or_else(|e| panic!("BPF_ENABLE_STATS (needs root and Linux 5.8+): {e}"));
        RunStats(fd(r))
    }
}

/// `struct bpf_prog_info` of a program.
fn info(prog: &OwnedFd) -> [u8; INFO_SIZE] {
    let mut info = [0u8; INFO_SIZE];
    let mut attr = [0u8; 16];
    attr[..4].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(INFO_SIZE as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_ne_bytes());
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).expect("BPF_OBJ_GET_INFO_BY_FD");
    info
}

/// How many times the program has run since it was loaded (with [`RunStats`] on).
pub fn run_count(prog: &OwnedFd) -> u64 {
    let i = info(prog);
    u64::from_ne_bytes(i[INFO_RUN_CNT..INFO_RUN_CNT + 8].try_into().unwrap())
}

/// A reference to the BPF program named `name` that process `pid` holds (the kernel shows
/// each BPF program descriptor's id as `prog_id:` in /proc/PID/fdinfo).
pub fn hold_program(pid: u32, name: &str) -> Option<OwnedFd> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).ok()?;
    for entry in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Some(id) = text
            .lines()
            .find_map(|l| l.strip_prefix("prog_id:"))
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let mut attr = [0u8; 16];
        attr[..4].copy_from_slice(&id.to_ne_bytes());
        let Ok(r) = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) else {
            continue;
        };
        let prog = fd(r);
        let i = info(&prog);
        let prog_name = &i[INFO_NAME..INFO_NAME + 16];
        let end = prog_name.iter().position(|b| *b == 0).unwrap_or(16);
        // The kernel keeps the first 15 bytes of the name.
        if prog_name[..end] == name.as_bytes()[..name.len().min(15)] {
            return Some(prog);
        }
    }
    None
}
