//! The test corpora of gosyms, shared by the end-to-end tests in `tests/` and the resolver's
//! tests: where `testdata/install-toolchains.sh`, `build-matrix.sh` and
//! `fetch-real-binaries.sh` put the Go toolchains, the matrix and the real binaries.
//!
//! Everything here panics with the command to run when a corpus is missing: tests that need
//! them fail loudly, they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod bpf;
pub mod otlp;

/// The cache the testdata scripts fill (`GOSYMS_CACHE`, default `~/.cache/gosyms`).
pub fn cache() -> PathBuf {
    match std::env::var_os("GOSYMS_CACHE") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache/gosyms")
        }
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A Go toolchain's `go` command (`release` as in install-toolchains.sh: `1.15`, `1.21.13`),
/// with GOROOT set and nothing to download.
pub fn go(release: &str) -> Command {
    let root = cache().join("go").join(release);
    assert!(
        root.join("bin/go").exists(),
        "Go {release} is missing from {}: run testdata/install-toolchains.sh (the README test command does)",
        root.display()
    );
    let mut cmd = Command::new(root.join("bin/go"));
    cmd.env("GOROOT", &root)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "");
    cmd
}

/// This machine's architecture in GOARCH spelling, for programs the tests run.
pub fn host_goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Builds the single-file Go program `src` (GOPATH mode, no cgo) with Go `release` for
/// linux/`goarch` into `out`, with `ldflags`; the toolchain's build cache is the matrix's.
pub fn go_build(release: &str, goarch: &str, src: &Path, out: &Path, ldflags: &str) {
    go_build_mode(release, goarch, src, out, ldflags, "exe");
}

/// As [`go_build`], with a `-buildmode` (`exe`, `pie`).
///
/// Where no Go toolchain can run (the emulated arm64 machine of `testdata/arm64-vm.sh`), the
/// programs are built beforehand into the directory `GOSYMS_PREBUILT_GO` names, as
/// [`prebuilt_name`] says, and copied from there instead.
pub fn go_build_mode(
    release: &str,
    goarch: &str,
    src: &Path,
    out: &Path,
    ldflags: &str,
    mode: &str,
) {
    go_build_env(release, goarch, src, out, ldflags, mode, &[]);
}

/// As [`go_build_mode`], with more environment variables (`GOEXPERIMENT`); `src` is a file or
/// a directory holding one package.
pub fn go_build_env(
    release: &str,
    goarch: &str,
    src: &Path,
    out: &Path,
    ldflags: &str,
    mode: &str,
    env: &[(&str, &str)],
) {
    if let Some(dir) = std::env::var_os("GOSYMS_PREBUILT_GO") {
        let name = prebuilt_name(src, release, goarch, mode, ldflags);
        let from = Path::new(&dir).join(&name);
        std::fs::copy(&from, out).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: GOSYMS_PREBUILT_GO is set but this program was not built beforehand \
                 (testdata/arm64-vm.sh builds the ones the tests in the VM use)",
                from.display()
            )
        });
        return;
    }
    let mut cmd = go(release);
    cmd.args([
        "build",
        &format!("-buildmode={mode}"),
        &format!("-ldflags={ldflags}"),
        "-o",
    ])
    .arg(out);
    // GOPATH mode builds a directory only as the current one.
    if src.is_dir() {
        cmd.arg(".").current_dir(src);
    } else {
        cmd.arg(src);
    }
    let status = cmd
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0")
        .env("GOOS", "linux")
        .env("GOARCH", goarch)
        .env("GOCACHE", cache().join("gocache").join(release))
        .envs(env.iter().copied())
        .status()
        .unwrap_or_else(|e| panic!("go {release} build: {e}"));
    assert!(
        status.success(),
        "go {release} build of {} for linux/{goarch} ({mode}, {env:?}) failed",
        src.display()
    );
}

/// The file name of a program built beforehand for `GOSYMS_PREBUILT_GO`:
/// `DIR-RELEASE-GOARCH-MODE` for `testdata/DIR/main.go`, with `-stripped` when built with
/// `-ldflags=-s -w` (the only other ldflags the tests use is none), e.g.
/// `trace-1.21.13-arm64-pie-stripped`.
pub fn prebuilt_name(src: &Path, release: &str, goarch: &str, mode: &str, ldflags: &str) -> String {
    let dir = src
        .parent()
        .and_then(Path::file_name)
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stripped = match ldflags {
        "" => "",
        "-s -w" => "-stripped",
        other => panic!("no prebuilt programs with -ldflags={other:?}"),
    };
    format!("{dir}-{release}-{goarch}-{mode}{stripped}")
}

/// One binary of the matrix: a row of `matrix/manifest.tsv`.
#[derive(Debug, Clone)]
pub struct MatrixBinary {
    /// Toolchain directory name (`1.21.13`).
    pub release: String,
    /// As `go version` prints it (`go1.21.13`).
    pub go_version: String,
    /// GOOS.
    pub goos: String,
    /// GOARCH.
    pub goarch: String,
    /// `exe`, `exe-stripped`, `pie`, `pie-stripped`, `cgo`, `cgo-stripped`.
    pub variant: String,
    /// Built with `-ldflags=-s -w`.
    pub stripped: bool,
    /// The binary.
    pub path: PathBuf,
    /// Its unstripped twin (itself when unstripped).
    pub twin: PathBuf,
    /// `go tool nm -size -n` of the twin.
    pub nm: PathBuf,
    /// `go tool addr2line` of every text symbol of the twin.
    pub addr2line: PathBuf,
    /// `go version -m` of the binary.
    pub version: PathBuf,
}

impl MatrixBinary {
    /// `1.21.13 linux/amd64 exe-stripped`.
    pub fn label(&self) -> String {
        format!(
            "{} {}/{} {}",
            self.release, self.goos, self.goarch, self.variant
        )
    }
}

/// Every binary of the matrix.
pub fn matrix() -> Vec<MatrixBinary> {
    let path = cache().join("matrix/manifest.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}: build the matrix first with testdata/build-matrix.sh (the README test command does)", path.display())
    });
    let rows: Vec<MatrixBinary> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 11, "bad manifest row {l:?}");
            MatrixBinary {
                release: f[0].into(),
                go_version: f[1].into(),
                goos: f[2].into(),
                goarch: f[3].into(),
                variant: f[4].into(),
                stripped: f[5] == "1",
                path: f[6].into(),
                twin: f[7].into(),
                nm: f[8].into(),
                addr2line: f[9].into(),
                version: f[10].into(),
            }
        })
        .collect();
    assert!(
        rows.len() > 100,
        "{}: only {} binaries; the matrix is incomplete",
        path.display(),
        rows.len()
    );
    rows
}

/// A binary of the matrix, built by Go `release` for `target` (`linux_amd64`) as `variant`.
pub fn matrix_binary(release: &str, target: &str, variant: &str) -> PathBuf {
    let p = cache()
        .join("matrix")
        .join(release)
        .join(target)
        .join(variant);
    assert!(
        p.exists(),
        "{} missing: run testdata/build-matrix.sh (the README test command does)",
        p.display()
    );
    p
}

/// The Python of the venv that `testdata/install-python-tools.sh` makes: it has Perfetto's
/// Python package (with its compiled trace definitions) and `protobuf`.
pub fn perfetto_python() -> PathBuf {
    let p = cache().join("venv-perfetto/bin/python");
    assert!(
        p.exists(),
        "{} missing: run testdata/install-python-tools.sh (the README test command does)",
        p.display()
    );
    p
}
