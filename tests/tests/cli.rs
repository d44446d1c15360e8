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
