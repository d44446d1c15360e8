//! Attaching every probe with one `uprobe_multi` link (Linux 6.6+).
//!
//! Per-probe perf-event links are slow to take down: detaching a BPF program from a uprobe
//! perf event waits for an RCU-tasks-trace grace period under a global mutex, about 100 ms
//! each, one after the other: 1,000 probes took 107 s to detach here. A `uprobe_multi` link
//! attaches all of them in one call and detaches them with one wait.
//!
//! aya 0.14 cannot load a program for `uprobe_multi` (it needs the expected attach type
//! `BPF_TRACE_UPROBE_MULTI` at load time), so this module loads the same object's program
//! itself: aya creates the maps, aya-obj patches their descriptors into the instructions, and
//! `BPF_PROG_LOAD` does the rest.

use crate::sys::{bpf, put, BPF_LINK_CREATE, BPF_PROG_LOAD};
use aya::maps::Map;
use aya::Ebpf;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

const BPF_PROG_TYPE_KPROBE: u32 = 2;
const BPF_TRACE_UPROBE_MULTI: u32 = 48;

fn map_fd(ebpf: &Ebpf, name: &str) -> io::Result<RawFd> {
    let data = match ebpf.map(name) {
        Some(Map::Array(d) | Map::PerCpuArray(d) | Map::RingBuf(d) | Map::HashMap(d)) => d,
        _ => return Err(io::Error::other(format!("map {name} missing"))),
    };
    Ok(data.fd().as_fd().as_raw_fd())
}

/// Loads `program` (the object aya loaded into `ebpf`) for `uprobe_multi`, sharing `ebpf`'s maps.
pub fn load(ebpf: &Ebpf, object: &[u8], program: &str) -> io::Result<OwnedFd> {
    let err = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
    let mut obj = aya_obj::Object::parse(object).map_err(|e| err(&e))?;
    let mut maps = Vec::new();
    for (name, m) in &obj.maps {
        maps.push((name.clone(), map_fd(ebpf, name)?, m.clone()));
    }
    let text_sections = obj.functions.keys().map(|(section, _)| *section).collect();
    obj.relocate_maps(
        maps.iter().map(|(name, fd, m)| (name.as_str(), *fd, m)),
        &text_sections,
    )
    .map_err(|e| err(&e))?;
    obj.relocate_calls(&text_sections).map_err(|e| err(&e))?;
    let prog = obj
        .programs
        .get(program)
        .ok_or_else(|| io::Error::other(format!("program {program} missing")))?;
    let function = obj
        .functions
        .get(&prog.function_key())
        .ok_or_else(|| io::Error::other(format!("program {program} has no code")))?;
    let insns = &function.instructions;
    let license = prog.license.clone();
    let mut log = vec![0u8; 1 << 20];
    // union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size,
    // log_buf, kern_version, prog_flags, prog_name[16], prog_ifindex, expected_attach_type.
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &BPF_PROG_TYPE_KPROBE.to_ne_bytes());
    put(&mut attr, 4, &(insns.len() as u32).to_ne_bytes());
    put(&mut attr, 8, &(insns.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 16, &(license.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 48, b"gosyms_probe\0");
    put(&mut attr, 68, &BPF_TRACE_UPROBE_MULTI.to_ne_bytes());
    // GOSYMS_VERIFIER_STATS=1 prints the verifier's statistics (instructions processed, states)
    // to stderr: the cost of the program's complexity, for benchmarks.
    let stats = std::env::var_os("GOSYMS_VERIFIER_STATS").is_some();
    if stats {
        const BPF_LOG_STATS: u32 = 4;
        put(&mut attr, 24, &BPF_LOG_STATS.to_ne_bytes());
        put(&mut attr, 28, &(log.len() as u32).to_ne_bytes());
        put(&mut attr, 32, &(log.as_mut_ptr() as u64).to_ne_bytes());
    }
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => {
            if stats {
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(log.get(..end).unwrap_or_default());
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    eprintln!("gosyms: verifier: {line}");
                }
            }
            Ok(fd)
        }
        Err(e) => {
            // Load again with the verifier's log, for the error message.
            put(&mut attr, 24, &1u32.to_ne_bytes());
            put(&mut attr, 28, &(log.len() as u32).to_ne_bytes());
            put(&mut attr, 32, &(log.as_mut_ptr() as u64).to_ne_bytes());
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(log.get(..end).unwrap_or_default());
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            Err(io::Error::new(
                e.kind(),
                format!(
                    "{e}; verifier: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ),
            ))
        }
    }
}

/// Attaches `prog` at every (file offset, cookie) of `binary` with one link, for process `pid`
/// or for all. Closing the returned descriptor detaches them all.
pub fn attach(
    prog: &OwnedFd,
    binary: &Path,
    points: &[(u64, u64)],
    pid: Option<u32>,
) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(binary.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let offsets: Vec<u64> = points.iter().map(|p| p.0).collect();
    let cookies: Vec<u64> = points.iter().map(|p| p.1).collect();
    // union bpf_attr, link_create: prog_fd, target_fd, attach_type, flags, then uprobe_multi:
    // path, offsets, ref_ctr_offsets, cookies, cnt, flags, pid.
    let mut attr = [0u8; 64];
    put(&mut attr, 0, &(prog.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 8, &BPF_TRACE_UPROBE_MULTI.to_ne_bytes());
    put(&mut attr, 16, &(path.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 24, &(offsets.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 40, &(cookies.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 48, &(points.len() as u32).to_ne_bytes());
    put(&mut attr, 56, &pid.unwrap_or(0).to_ne_bytes());
    bpf(BPF_LINK_CREATE, &mut attr)
}
