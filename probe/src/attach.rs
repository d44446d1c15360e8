//! Attaching and detaching many uprobes quickly.
//!
//! Each uprobe is a perf event (`perf_event_open` on the `uprobe` PMU, by file and offset)
//! with the program linked to it by `BPF_LINK_CREATE`, carrying the spec index as its cookie.
//! Registering or unregistering a uprobe takes the kernel's `dup_mmap_sem` for writing, and
//! each writer that finds no other writer active waits for an RCU grace period: about 10-30 ms.
//! One after the other, 1,000 probes cost 10-30 s. Writers that overlap share the grace
//! period, so this module attaches and detaches from many threads at once: then the cost per
//! probe is the registration itself. (aya 0.14 attaches one probe at a time, and does not
//! support `uprobe_multi` links, which would do the same in one call.)

use crate::sys::{bpf, perf_event_open, put, BPF_LINK_CREATE};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// `BPF_PERF_EVENT` attach type.
const BPF_PERF_EVENT: u32 = 41;

/// Threads used to attach and detach.
const THREADS: usize = 64;

/// One attached uprobe: its perf event and its link. Dropping it detaches it.
pub struct Attached {
    _link: OwnedFd,
    _event: OwnedFd,
}

/// The `uprobe` PMU's type number.
fn uprobe_pmu() -> io::Result<u32> {
    let path = "/sys/bus/event_source/devices/uprobe/type";
    let text = std::fs::read_to_string(path)?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::other(format!("{path}: not a number")))
}

fn perf_uprobe(pmu: u32, path: &CString, offset: u64, pid: Option<u32>) -> io::Result<OwnedFd> {
    // struct perf_event_attr (include/uapi/linux/perf_event.h), PERF_ATTR_SIZE_VER5 = 112.
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &pmu.to_ne_bytes()); // type
    put(&mut attr, 4, &112u32.to_ne_bytes()); // size
    put(&mut attr, 16, &1u64.to_ne_bytes()); // sample_period
    put(&mut attr, 48, &1u32.to_ne_bytes()); // wakeup_events
    put(&mut attr, 56, &(path.as_ptr() as u64).to_ne_bytes()); // config1: uprobe_path
    put(&mut attr, 64, &offset.to_ne_bytes()); // config2: probe_offset
    match pid {
        Some(p) => perf_event_open(&attr, p as libc::c_int, -1),
        None => perf_event_open(&attr, -1, 0),
    }
}

fn link(prog: BorrowedFd<'_>, event: &OwnedFd, cookie: u64) -> io::Result<OwnedFd> {
    // union bpf_attr, link_create: prog_fd, target_fd, attach_type, flags, perf_event.bpf_cookie.
    let mut attr = [0u8; 64];
    put(&mut attr, 0, &(prog.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 4, &(event.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 8, &BPF_PERF_EVENT.to_ne_bytes());
    put(&mut attr, 16, &cookie.to_ne_bytes());
    bpf(BPF_LINK_CREATE, &mut attr)
}

/// The points that failed: each one's index in the points given, and the error.
pub type Failures = Vec<(usize, io::Error)>;

/// Attaches `prog` at each (file offset, cookie) of `binary`, for process `pid` or for all.
/// Gives the attached probes and the points that failed: the caller decides whether a failure
/// is a refusal of that one site or fatal.
pub fn attach_all(
    prog: BorrowedFd<'_>,
    binary: &Path,
    points: &[(u64, u64)],
    pid: Option<u32>,
) -> io::Result<(Vec<Attached>, Failures)> {
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(binary.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let pmu = uprobe_pmu()?;
    let chunk = points.len().div_ceil(THREADS).max(1);
    type Outcome = Vec<Result<Attached, (usize, io::Error)>>;
    let results: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = points
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let path = &path;
                s.spawn(move || -> Outcome {
                    part.iter()
                        .enumerate()
                        .map(|(i, &(offset, cookie))| {
                            let index = c * chunk + i;
                            let event =
                                perf_uprobe(pmu, path, offset, pid).map_err(|e| (index, e))?;
                            let link = link(prog, &event, cookie).map_err(|e| (index, e))?;
                            Ok(Attached {
                                _link: link,
                                _event: event,
                            })
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err((
                        usize::MAX,
                        io::Error::other("attach thread panicked"),
                    ))]
                })
            })
            .collect()
    });
    let mut attached = Vec::with_capacity(points.len());
    let mut failed = Vec::new();
    for r in results.into_iter().flatten() {
        match r {
            Ok(a) => attached.push(a),
            Err(e) => failed.push(e),
        }
    }
    failed.sort_by_key(|(i, _)| *i);
    Ok((attached, failed))
}

/// Detaches every probe, from many threads at once.
pub fn detach_all(mut probes: Vec<Attached>) {
    let chunk = probes.len().div_ceil(THREADS).max(1);
    std::thread::scope(|s| {
        while !probes.is_empty() {
            let rest = probes.split_off(probes.len().saturating_sub(chunk));
            s.spawn(move || drop(rest));
        }
    });
}
