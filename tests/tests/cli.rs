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
