//! The `list` options, on the matrix test program.

mod common;

fn prog() -> String {
    let p = common::matrix_binary("1.21.13", "linux_amd64", "exe-stripped");
    p.to_str().unwrap().to_string()
}

fn lines(args: &[&str]) -> Vec<String> {
    common::stdout_of(args)
        .lines()
        .map(str::to_string)
        .collect()
}

fn names(args: &[&str]) -> Vec<String> {
    lines(args)
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect()
}

#[test]
fn user_and_std_filters() {
    let p = prog();
    let user = names(&["list", "--user", &p]);
    assert!(user.contains(&"main.main".to_string()));
    assert!(user.contains(&"example.com/gosymsprog/shapes.(*Circle).Area".to_string()));
    assert!(
        user.iter()
            .all(|n| n.starts_with("main.") || n.starts_with("example.com/gosymsprog")),
        "{user:?}"
    );
    let std = names(&["list", "--std", &p]);
    assert!(
        std.contains(&"runtime.main".to_string())
            && std.contains(&"sync.(*WaitGroup).Wait".to_string())
    );
    assert!(
        !std.iter()
            .any(|n| n.starts_with("main.") || n.starts_with("example.com/")),
        "{std:?}"
    );
    let all = names(&["list", &p]);
    assert!(user.len() + std.len() <= all.len());
}

#[test]
fn filter_sort_and_lines() {
    let p = prog();
    let by_name = names(&["list", "--sort", "name", "--filter", "^main\\.", &p]);
    let mut sorted = by_name.clone();
    sorted.sort();
    assert_eq!(by_name, sorted);
    assert!(by_name.iter().all(|n| n.starts_with("main.")) && by_name.len() > 5);
    let with_lines = lines(&["list", "--lines", "--filter", "^main\\.main$", &p]);
    assert_eq!(with_lines.len(), 1);
    let (_, fileline) = with_lines[0].split_once('\t').unwrap();
    assert!(
        !fileline.ends_with(".go:") && fileline.contains("main.go:"),
        "{fileline}"
    );
}

/// `main.fib(n int) int`: the stack ABI reserves room for the argument and the result, the
/// register ABI only a spill slot for the argument; the frame holds at least the saved
/// frame pointer or link register.
#[test]
fn args_and_frame_sizes() {
    for (release, target, args) in [
        ("1.15", "linux_amd64", 16),
        ("1.15", "linux_386", 8),
        ("1.21.13", "linux_amd64", 8),
        ("1.21.13", "linux_arm64", 8),
        ("1.21.13", "linux_386", 8),
    ] {
        let p = common::matrix_binary(release, target, "exe-stripped");
        let f = common::list(&p)
            .unwrap()
            .into_iter()
            .find(|f| f.name == "main.fib")
            .unwrap();
        assert_eq!(f.args_bytes, Some(args), "{release} {target}");
        assert!(
            f.frame_bytes >= 4,
            "{release} {target}: frame {}",
            f.frame_bytes
        );
    }
}

/// The matrix program built by Go 1.21.13, unstripped (for file:line answers).
fn unstripped() -> String {
    let p = common::matrix_binary("1.21.13", "linux_amd64", "exe");
    p.to_str().unwrap().to_string()
}

/// Runs `script` with bash; its stdout.
fn bash(script: &str) -> String {
    let out = std::process::Command::new("bash")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completes_commands_and_options() {
    // bash itself runs the completion function, as it would on Tab.
    let script = format!(
        "source <({} completions bash)\n\
         complete -p gosyms\n\
         COMP_WORDS=(gosyms tr); COMP_CWORD=1; _gosyms gosyms tr gosyms; echo \"[${{COMPREPLY[*]}}]\"\n\
         COMP_WORDS=(gosyms trace --max-e); COMP_CWORD=2; _gosyms gosyms --max-e trace; echo \"[${{COMPREPLY[*]}}]\"",
        common::gosyms().display()
    );
    let out = bash(&script);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with(" gosyms"), "{out}");
    assert_eq!(lines[1], "[trace]");
    assert_eq!(lines[2], "[--max-elems --max-events]");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = common::stdout_of(&["completions", shell]);
        assert!(
            script.contains("gosyms") && script.contains("max-events"),
            "{shell}"
        );
    }
}

#[test]
fn man_pages_render() {
    // man-db formats the roff as it would for `man gosyms`.
    for (args, title, wants) in [
        (
            &["man"][..],
            "gosyms(1)",
            &["SUBCOMMANDS", "gosyms-trace(1)", "gosyms-lookup(1)"][..],
        ),
        (
            &["man", "trace"][..],
            "gosyms-trace(1)",
            &["--max-events", "--duration", "--json"][..],
        ),
    ] {
        let roff = common::stdout_of(args);
        assert!(roff.contains(".TH "), "{args:?}");
        let script = format!(
            "{} {} | MANWIDTH=100 man --warnings -l - 2>&1",
            common::gosyms().display(),
            args.join(" ")
        );
        let page = bash(&script);
        assert!(page.starts_with(title), "{args:?}: {page}");
        for w in wants {
            assert!(page.contains(w), "{args:?}: no {w} in {page}");
        }
        assert!(!page.contains("warning"), "{page}");
    }
}

#[test]
fn lookup_reads_stdin_and_answers_each_line_at_once() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Command;
    let p = unstripped();
    let funcs = common::list(std::path::Path::new(&p)).unwrap();
    let main = funcs.iter().find(|f| f.name == "main.main").unwrap();
    let fib = funcs.iter().find(|f| f.name == "main.fib").unwrap();
    let mut child =
        common::spawn_piped(Command::new(common::gosyms()).args(["lookup", "--json", &p]));
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Each answer comes before the next question: it works interactively.
    for f in [main, fib, main] {
        writeln!(stdin, "{:#x}", f.entry).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["function"], f.name.as_str(), "{line}");
        assert_eq!(v["line"], f.line.unwrap());
    }
    // A bad address is reported on its own line, and the next one answered.
    writeln!(stdin, "zzz\n{}", fib.entry + 1).unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("gosyms: bad address \"zzz\""), "{err}");
    assert!(rest.contains("\"offset\":1"), "{rest}");
    assert_eq!(out.status.code(), Some(2));
    // Text answers from stdin are those for the same addresses as arguments.
    let addrs = format!("{:#x}\n{:#x}\n", main.entry + 16, fib.entry);
    let from_stdin = common::pipe(
        Command::new(common::gosyms()).args(["lookup", &p]),
        addrs.as_bytes(),
    );
    let from_args = common::stdout_of(&[
        "lookup",
        &p,
        &format!("{:#x}", main.entry + 16),
        &format!("{:#x}", fib.entry),
    ]);
    assert_eq!(from_stdin, from_args);
}

#[test]
fn a_closed_pipe_ends_quietly_in_every_output_mode() {
    use std::io::Read;
    use std::process::Command;
    let p = unstripped();
    // Enough addresses for more output than a pipe holds.
    let funcs = common::list(std::path::Path::new(&p)).unwrap();
    let addrs: String = funcs
        .iter()
        .cycle()
        .take(20_000)
        .map(|f| format!("{:#x}\n", f.entry))
        .collect();
    for args in [
        &["list", "--json"][..],
        &["list", "--lines"][..],
        &["resolve", "--json", "runtime.*"][..],
        &["resolve", "runtime.*"][..],
        &["lookup", "--json"][..],
        &["lookup"][..],
    ] {
        let mut child = common::spawn_piped(
            Command::new(common::gosyms())
                .arg(args[0])
                .arg(&p)
                .args(&args[1..]),
        );
        let mut stdin = child.stdin.take().unwrap();
        let addrs = addrs.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(addrs.as_bytes());
        });
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
}

/// gosyms with `args` fails with exit 2 and one line on stderr containing `want`.
fn one_line_error(args: &[&str], want: &str) {
    let out = common::run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
    assert!(err.starts_with("gosyms: "), "{err}");
    assert!(
        err.contains(want),
        "{args:?}: {err:?} does not say {want:?}"
    );
}

#[test]
fn every_error_is_one_line() {
    let p = prog();
    one_line_error(&["list", "--filter", "(", &p], "--filter: unclosed group");
    one_line_error(&["resolve", &p, "re:("], "unclosed group");
    one_line_error(&["list", "--bogus", &p], "unexpected argument '--bogus'");
    one_line_error(
        &["lookup"],
        "required arguments were not provided: <BINARY>",
    );
    one_line_error(&["frobnicate"], "unrecognized subcommand 'frobnicate'");
    one_line_error(&["man", "frobnicate"], "no command \"frobnicate\"");
    one_line_error(&["completions", "tcsh"], "invalid value 'tcsh'");
}

#[test]
fn zero_and_malformed_limits_are_refused() {
    // Refused while reading the command line: nothing is started.
    for (flag, value, want) in [
        ("--max-events", "0", "must be at least 1"),
        ("--duration", "0s", "must be more than zero"),
        ("--duration", "0", "must be more than zero"),
        ("--duration", "10", "missing unit"),
        ("--duration", "1d", "unknown unit"),
        ("--duration", "-1s", "cannot be negative"),
    ] {
        let arg = format!("{flag}={value}");
        one_line_error(&["trace", &arg, "main.main", "--", "/bin/true"], want);
    }
    one_line_error(
        &[
            "trace",
            "--json",
            "--format",
            "text",
            "main.main",
            "--",
            "/bin/true",
        ],
        "cannot be used with",
    );
}

#[test]
fn globs_and_names_get_suggestions() {
    let p = prog();
    for (pattern, want) in [
        ("mian.*", "(did you mean main.*?)"),
        ("main.fibb", "did you mean main.fib"),
        ("*.(*Circle).Aera", "did you mean *.(*Circle).Area?"),
    ] {
        let out = common::run(&["resolve", &p, pattern]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{pattern}: {err}");
        assert!(err.contains(want), "{pattern}: {err}");
    }
}

/// Generic functions are listed as pclntab names them, which is what `go tool nm` of the twin
/// says since Go 1.20 (`main.Map[go.shape.int,go.shape.string]`), and `[...]` in Go 1.18 and 1.19
/// pclntab; patterns match those names exactly, by glob and by regular expression.
#[test]
fn generic_names_as_pclntab_has_them() {
    for (release, want, nm_name) in [
        (
            "1.21.13",
            "main.Map[go.shape.int,go.shape.string]",
            "main.Map[go.shape.int,go.shape.string]",
        ),
        (
            "1.27.3",
            "main.Map[go.shape.int,go.shape.string]",
            "main.Map[go.shape.int,go.shape.string]",
        ),
        (
            "1.19",
            "main.Map[...]",
            "main.Map[go.shape.int_0,go.shape.string_1]",
        ),
    ] {
        let bin = common::matrix_binary(release, "linux_amd64", "exe-stripped");
        let p = bin.to_str().unwrap();
        let listed = names(&["list", "--user", p]);
        assert!(
            listed.contains(&want.to_string()),
            "go {release}: {listed:?}"
        );
        let nm = std::fs::read_to_string(bin.with_file_name("exe.nm")).unwrap();
        assert!(
            nm.lines().any(|l| l.ends_with(&format!(" T {nm_name}"))),
            "go {release}: go tool nm has no {nm_name}"
        );
        for pattern in [
            want.to_string(),
            "main.Map[*".into(),
            r"re:^main\.Map\[".into(),
        ] {
            let out = common::stdout_of(&["resolve", p, &pattern]);
            assert!(
                out.lines().any(|l| l == want),
                "go {release}: resolve {pattern:?}: {out}"
            );
        }
    }
}

/// `--user` keeps the closures, method-value wrappers and generic instantiations of the user's
/// packages, and nothing outside any package (README, `--help`).
#[test]
fn user_keeps_generated_code_of_user_packages() {
    let p = prog();
    let user = names(&["list", "--user", &p]);
    for want in [
        "main.fanOut.func1.1",
        "example.com/gosymsprog/shapes.(*Circle).Area-fm",
        "main.Sum[go.shape.int]",
    ] {
        assert!(user.contains(&want.to_string()), "{want} missing: {user:?}");
    }
    let all = names(&["list", &p]);
    assert!(all.iter().any(|n| n.starts_with("type:.eq.")));
    assert!(!user.iter().any(|n| n.starts_with("type:")), "{user:?}");
}
