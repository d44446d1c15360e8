//! Function patterns: an exact name, a glob, a regular expression, or a signature.

use crate::signature::{self, Signature, SignatureError};
use regex::Regex;

/// A parsed pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// One function, by its full name.
    Exact(String),
    /// `*` matches any run of characters, `?` one character (`main.*`, `net/http.(*conn).*`).
    Glob {
        /// The glob as given.
        text: String,
        /// The equivalent anchored regular expression.
        re: Regex,
    },
    /// `re:REGEX`, matched anywhere in the name unless anchored.
    Regex(Regex),
    /// `NAME(PARAMS) RESULTS`: one function, with the types of its arguments and results.
    Signature(Signature),
}

/// Why a pattern could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// An invalid regular expression.
    #[error("bad regular expression {pattern:?}: {}", regex_error_line(cause))]
    Regex {
        /// The pattern as given.
        pattern: String,
        /// What the regex parser said (not a `source`: the message already holds it).
        cause: regex::Error,
    },
    /// A signature that does not parse.
    #[error("{pattern:?}: {cause}")]
    Signature {
        /// The pattern as given.
        pattern: String,
        /// What was wrong.
        cause: SignatureError,
    },
    /// An empty pattern.
    #[error("empty pattern")]
    Empty,
}

/// A regex error in one line: the regex crate's errors draw a caret diagram over several
/// lines; this keeps the last one, which says what is wrong.
pub fn regex_error_line(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("");
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

impl Pattern {
    /// Parses one pattern as the user typed it.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if let Some(re) = text.strip_prefix("re:") {
            return Regex::new(re)
                .map(Pattern::Regex)
                .map_err(|cause| PatternError::Regex {
                    pattern: text.into(),
                    cause,
                });
        }
        if signature::is_signature(text) {
            return signature::parse(text)
                .map(Pattern::Signature)
                .map_err(|cause| PatternError::Signature {
                    pattern: text.into(),
                    cause,
                });
        }
        // `(*T)` is a pointer receiver, not a wildcard.
        let wild = |prev: char, ch: char| ch == '?' || (ch == '*' && prev != '(');
        let chars: Vec<(char, char)> = text
            .chars()
            .scan('\0', |prev, ch| {
                let pair = (*prev, ch);
                *prev = ch;
                Some(pair)
            })
            .collect();
        if chars.iter().any(|&(p, c)| wild(p, c)) {
            let mut re = String::from("^");
            for &(prev, ch) in &chars {
                match ch {
                    '*' if wild(prev, ch) => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re.push('$');
            return Regex::new(&re)
                .map(|re| Pattern::Glob {
                    text: text.to_string(),
                    re,
                })
                .map_err(|cause| PatternError::Regex {
                    pattern: text.into(),
                    cause,
                });
        }
        Ok(Pattern::Exact(text.to_string()))
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(n) => n == name,
            Pattern::Glob { re, .. } | Pattern::Regex(re) => re.is_match(name),
            Pattern::Signature(s) => s.matches(name),
        }
    }

    /// The pattern as the user wrote it (a signature by its function's name).
    pub fn text(&self) -> String {
        match self {
            Pattern::Exact(n) => n.clone(),
            Pattern::Glob { text, .. } => text.clone(),
            Pattern::Regex(re) => format!("re:{}", re.as_str()),
            Pattern::Signature(s) => s.name.clone(),
        }
    }

    /// Names like those the pattern was probably meant to match, when it matches nothing: for
    /// a name, up to `max` names of `names` close to it; for a glob, up to `max` globs that
    /// differ from it in the literal text before its first wildcard (or after its last) and
    /// match something. Nothing for a regular expression.
    pub fn suggestions(&self, names: &[&str], max: usize) -> Vec<String> {
        match self {
            Pattern::Glob { text, .. } => near_globs(text, names, max),
            Pattern::Regex(_) => Vec::new(),
            _ => match self.exact_name() {
                Some(wanted) => near_matches(wanted, names.iter().copied(), max)
                    .into_iter()
                    .map(String::from)
                    .collect(),
                None => Vec::new(),
            },
        }
    }

    /// The name, for patterns that name one function.
    pub fn exact_name(&self) -> Option<&str> {
        match self {
            Pattern::Exact(n) => Some(n),
            Pattern::Signature(s) => Some(&s.name),
            _ => None,
        }
    }
}

/// Up to `max` names from `names` that look like `wanted`, closest first: same last component
/// or a small edit distance.
pub fn near_matches<'a>(
    wanted: &str,
    names: impl Iterator<Item = &'a str>,
    max: usize,
) -> Vec<&'a str> {
    let last = |n: &str| n.rsplit('.').next().unwrap_or(n).to_ascii_lowercase();
    let wanted_last = last(wanted);
    let wanted_lower = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            let lower = n.to_ascii_lowercase();
            let d = edit_distance(&wanted_lower, &lower, 4);
            let score = if d <= 3 {
                d
            } else if last(n) == wanted_last || lower.contains(&wanted_lower) {
                4
            } else {
                return None;
            };
            Some((score, n))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(max).map(|(_, n)| n).collect()
}

/// Globs like `glob` that match some of `names`: its literal text before the first wildcard
/// (or, when it starts with one, after the last) replaced by the same part of real names at a
/// small edit distance; the closest only.
fn near_globs(glob: &str, names: &[&str], max: usize) -> Vec<String> {
    let is_wild = |prev: Option<char>, c: char| c == '?' || (c == '*' && prev != Some('('));
    let chars: Vec<char> = glob.chars().collect();
    let wild_at: Vec<usize> = (0..chars.len())
        .filter(|&i| {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
            chars.get(i).is_some_and(|&c| is_wild(prev, c))
        })
        .collect();
    let (Some(&first), Some(&last)) = (wild_at.first(), wild_at.last()) else {
        return Vec::new();
    };
    // The literal to vary, and how a candidate is cut from a name and put back together.
    let from_start = first > 0;
    let literal: String = if from_start {
        chars.iter().take(first).collect()
    } else {
        chars.iter().skip(last + 1).collect()
    };
    let rest: String = if from_start {
        chars.iter().skip(first).collect()
    } else {
        chars.iter().take(last + 1).collect()
    };
    if literal.is_empty() {
        return Vec::new();
    }
    let want = literal.to_ascii_lowercase();
    let len = literal.chars().count();
    let mut candidates = std::collections::BTreeSet::new();
    for name in names {
        let nc: Vec<char> = name.chars().collect();
        for l in len.saturating_sub(2)..=len + 2 {
            if l == 0 || l > nc.len() {
                continue;
            }
            let part: String = if from_start {
                nc.iter().take(l).collect()
            } else {
                nc.iter().skip(nc.len() - l).collect()
            };
            candidates.insert(part);
        }
    }
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .filter_map(|part| {
            let d = edit_distance(&want, &part.to_ascii_lowercase(), 2);
            (d <= 2 && part != literal).then_some((d, part))
        })
        .filter_map(|(d, part)| {
            let suggestion = if from_start {
                format!("{part}{rest}")
            } else {
                format!("{rest}{part}")
            };
            let p = Pattern::parse(&suggestion).ok()?;
            names
                .iter()
                .any(|n| p.matches(n))
                .then_some((d, suggestion))
        })
        .collect();
    scored.sort();
    // Only the closest: a longer or shorter cut of the same name is a worse spelling of it.
    let best = scored.first().map_or(0, |(d, _)| *d);
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take_while(|(d, _)| *d == best)
        .take(max)
        .map(|(_, s)| s)
        .collect()
}

/// Levenshtein distance, or `cap + 1` as soon as it must exceed `cap`.
fn edit_distance(a: &str, b: &str, cap: usize) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        let mut row_min = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX) + 1;
            let v = sub.min(del).min(ins);
            if let Some(c) = cur.get_mut(j + 1) {
                *c = v;
            }
            row_min = row_min.min(v);
        }
        if row_min > cap {
            return cap + 1;
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(cap + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_pattern() {
        assert!(matches!(
            Pattern::parse("main.(*Server).Handle").unwrap(),
            Pattern::Exact(_)
        ));
        let g = Pattern::parse("net/http.(*conn).*").unwrap();
        assert!(g.matches("net/http.(*conn).serve") && !g.matches("net/http.(*connReader).Read"));
        let g = Pattern::parse("main.(*T).*").unwrap();
        assert!(g.matches("main.(*T).M") && !g.matches("main.(xT).M"));
        let g = Pattern::parse("main.*").unwrap();
        assert!(g.matches("main.main") && !g.matches("xmain.f"));
        let r = Pattern::parse("re:^main\\.(fib|sum)$").unwrap();
        assert!(r.matches("main.fib") && !r.matches("main.fibx"));
        let s = Pattern::parse("main.Greet(name string) error").unwrap();
        assert_eq!(s.exact_name(), Some("main.Greet"));
        assert!(matches!(
            Pattern::parse("re:(").unwrap_err(),
            PatternError::Regex { .. }
        ));
        assert!(matches!(
            Pattern::parse("main.F(x 9)").unwrap_err(),
            PatternError::Signature { .. }
        ));
        assert!(matches!(
            Pattern::parse("  ").unwrap_err(),
            PatternError::Empty
        ));
    }

    #[test]
    fn suggestions() {
        let names = [
            "main.fib",
            "main.sum",
            "main.(*Server).Handle",
            "net/http.(*Server).Handle",
            "runtime.main",
        ];
        assert_eq!(
            near_matches("main.fibb", names.iter().copied(), 3),
            ["main.fib"]
        );
        assert_eq!(
            near_matches("main.Server.Handle", names.iter().copied(), 3)[0],
            "main.(*Server).Handle"
        );
        assert!(near_matches("zzz.qqq", names.iter().copied(), 3).is_empty());
        // Globs: the literal part before the first wildcard, or after the last.
        let funcs = [
            "main.main",
            "main.fib",
            "net/http.(*conn).serve",
            "main.(*T).Close",
        ];
        let glob = |g: &str| Pattern::parse(g).unwrap().suggestions(&funcs, 3);
        assert_eq!(glob("mian.*"), ["main.*"]);
        assert_eq!(glob("net/htp.(*conn).*"), ["net/http.(*conn).*"]);
        assert_eq!(glob("*.Clsoe"), ["*.Close"]);
        assert!(glob("zzzzzz.*").is_empty());
        assert!(Pattern::parse("re:^mian")
            .unwrap()
            .suggestions(&funcs, 3)
            .is_empty());
        assert_eq!(edit_distance("kitten", "sitting", 10), 3);
    }
}
