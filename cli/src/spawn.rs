//! Starting the traced command and handling signals: the child waits between fork and exec
//! until every probe is attached (the gate); SIGINT and SIGTERM stop tracing and are passed on
//! to the command; a second one ends gosyms at once.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// Signals received so far.
static SIGNALS: AtomicU32 = AtomicU32::new(0);
/// The first signal's number.
static FIRST_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Whether the first signal came from the terminal (sent to the whole foreground process
/// group, so the command has it already).
static FIRST_FROM_TERMINAL: AtomicI32 = AtomicI32::new(0);
/// The started command's pid, 0 before there is one.
static CHILD: AtomicI32 = AtomicI32::new(0);

/// Whether a signal must be passed on to the child: not when the terminal sent it to the
/// process group the child is still in (`si_code` `SI_KERNEL`; `kill` gives `SI_USER`).
/// Only async-signal-safe calls: it runs in the handler.
fn must_forward(child: libc::pid_t, from_terminal: bool) -> bool {
    if child <= 0 {
        return false;
    }
    // SAFETY: getpgid and getpgrp are plain system calls.
    !from_terminal || unsafe { libc::getpgid(child) != libc::getpgrp() }
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let from_terminal = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    let n = SIGNALS.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        FIRST_SIGNAL.store(sig, Ordering::SeqCst);
        FIRST_FROM_TERMINAL.store(i32::from(from_terminal), Ordering::SeqCst);
        return;
    }
    // The second signal: pass it on and end now, without the summary. Only
    // async-signal-safe calls (kill, write, _exit). The kernel detaches the probes as the
    // process exits.
    let child = CHILD.load(Ordering::SeqCst);
    if must_forward(child, from_terminal) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child, sig) };
    }
    let msg = b"gosyms: second signal: exiting now\n";
    // SAFETY: write(2) of a static buffer to stderr, then _exit(2).
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(128 + sig);
    }
}

/// Installs the SIGINT and SIGTERM handlers.
pub fn install_signal_handlers() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with an SA_SIGINFO handler that only touches atomics and
        // makes async-signal-safe calls.
        let r = unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal
                as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                as libc::sighandler_t;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(io::Error::last_os_error()).context("installing a signal handler");
        }
    }
    Ok(())
}

/// The first SIGINT or SIGTERM received, if any.
pub fn stop_signal() -> Option<i32> {
    (SIGNALS.load(Ordering::SeqCst) > 0).then(|| FIRST_SIGNAL.load(Ordering::SeqCst))
}

/// The name of a stopping signal, for the summary.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// A child that waits, between fork and exec, until the probes are attached.
pub struct Gate {
    write_fd: libc::c_int,
}

impl Gate {
    /// Lets the child exec.
    pub fn release(self) -> Result<()> {
        // SAFETY: writing one byte to our own pipe, then closing it.
        let n = unsafe { libc::write(self.write_fd, b"g".as_ptr().cast(), 1) };
        // SAFETY: closing our own descriptor once.
        unsafe { libc::close(self.write_fd) };
        if n != 1 {
            bail!(
                "could not start the command: {}",
                io::Error::last_os_error()
            );
        }
        Ok(())
    }
}

/// A started command.
pub struct Child {
    pid: libc::pid_t,
}

impl Child {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    fn wait_flags(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        use std::os::unix::process::ExitStatusExt;
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            if r == self.pid {
                return Ok(Some(ExitStatus::from_raw(status)));
            }
            if r == 0 {
                return Ok(None);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Its status, if it has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait_flags(libc::WNOHANG)
    }

    /// Waits for it to exit (a second signal ends gosyms meanwhile).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.wait_flags(0)?
            .ok_or_else(|| io::Error::other("waitpid returned nothing"))
    }

    /// Kills it before it ever ran (it is still at the gate).
    pub fn kill_unstarted(mut self) {
        // SAFETY: kill(2) on our own child, then reaping it.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = self.wait();
        CHILD.store(0, Ordering::SeqCst);
    }

    /// Passes the first stopping signal on to it, unless the terminal sent it there already.
    pub fn forward_stop_signal(&self) {
        let Some(sig) = stop_signal() else {
            return;
        };
        let from_terminal = FIRST_FROM_TERMINAL.load(Ordering::SeqCst) != 0;
        if must_forward(self.pid, from_terminal) {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(self.pid, sig) };
        }
    }
}

/// The exit code a shell would give for a command that ended with `status`.
pub fn exit_code(status: ExitStatus) -> std::process::ExitCode {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => std::process::ExitCode::from(c as u8),
        (None, Some(s)) => std::process::ExitCode::from(128u8.wrapping_add(s as u8)),
        _ => std::process::ExitCode::FAILURE,
    }
}

/// Forks a child that waits, before exec, until the probes are attached: then no call of the
/// program, not even during its start-up, is missed. (std's `Command` cannot do this: its
/// `spawn` waits for the exec.) `program` is `command[0]` found on the PATH. With
/// `stdout_to_stderr` the command's stdout is gosyms' stderr, so that its output cannot mix
/// with events written to gosyms' stdout.
pub fn spawn_stopped(
    program: &Path,
    command: &[OsString],
    stdout_to_stderr: bool,
) -> Result<(Child, Gate)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(program.as_os_str().as_bytes())?;
    let argv: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error()).context("pipe");
    }
    let [read_fd, write_fd] = fds;
    // SAFETY: after fork the child calls only async-signal-safe functions (close, read, dup2,
    // signal, execv, _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error()).context("fork");
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe {
            libc::close(write_fd);
            let mut b = 0u8;
            if libc::read(read_fd, (&mut b as *mut u8).cast(), 1) != 1 {
                // The tracer went away without releasing us: do not run untraced.
                libc::_exit(127);
            }
            if stdout_to_stderr && libc::dup2(2, 1) < 0 {
                libc::_exit(127);
            }
            // Handlers are reset by exec, ignored signals are not: Rust ignores SIGPIPE.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::execv(path.as_ptr(), argv_ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    CHILD.store(pid, Ordering::SeqCst);
    // SAFETY: the read end is the child's.
    unsafe { libc::close(read_fd) };
    Ok((Child { pid }, Gate { write_fd }))
}
