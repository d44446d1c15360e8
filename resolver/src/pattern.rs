//! Function patterns: an exact name, a glob, a regular expression, or a signature.

use crate::signature::{self, Signature, SignatureError};
use regex::Regex;

/// A parsed pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// One function, by its full name.
    Exact(String),
    /// `*` matches any run of characters, `?` one character (`main.*`, `net/http.(*conn).*`).
    Glob(Regex),
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
    #[error("bad regular expression {pattern:?}: {}", one_line(cause))]
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

/// The regex crate's errors draw a caret diagram over several lines; keep the last one.
fn one_line(e: &regex::Error) -> String {
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
                .map(Pattern::Glob)
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
            Pattern::Glob(re) | Pattern::Regex(re) => re.is_match(name),
            Pattern::Signature(s) => s.matches(name),
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
        assert_eq!(edit_distance("kitten", "sitting", 10), 3);
    }
}
