//! The two raw system calls the loader makes itself, and how it fills their argument structs.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `BPF_PROG_LOAD`.
pub const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_LINK_CREATE`.
pub const BPF_LINK_CREATE: libc::c_long = 28;

/// Writes `bytes` at byte `at` of a zeroed kernel argument struct.
pub fn put(attr: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = attr.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Wraps a descriptor the kernel returned, or its error.
fn fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `bpf(cmd, attr, size)`.
pub fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<OwnedFd> {
    // SAFETY: attr is a zero-padded bpf_attr of the size passed; pointers in it outlive the call.
    fd(unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) })
}

/// `perf_event_open(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)`.
pub fn perf_event_open(attr: &[u8], pid: libc::c_int, cpu: libc::c_int) -> io::Result<OwnedFd> {
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
    // SAFETY: attr is a valid perf_event_attr of the size it declares; pointers in it outlive
    // the call.
    fd(unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            pid,
            cpu,
            -1,
            PERF_FLAG_FD_CLOEXEC,
        )
    })
}
