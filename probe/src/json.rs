//! The JSON Lines form of trace events (README.md, "JSON output"): one object per event, its
//! fields in the order below. Values are written as [`crate::value`] says.

use crate::events::TraceEvent;
use std::io::{self, Write};

/// Writes `ev` of function `name` as one line: `event`, `fn`, `ts_ns`, `pid`, `tid`, `goid`,
/// then `args` (calls) or `ret` and `dur_ns` (returns), then `stack` (calls with `--stack`).
///
/// The envelope is written by hand (its keys need no escaping; serde would escape each one
/// for each event), the values through serde.
pub fn write_event(out: &mut impl Write, ev: &TraceEvent, name: &str) -> io::Result<()> {
    let mut n = itoa::Buffer::new();
    out.write_all(if ev.is_return {
        b"{\"event\":\"return\",\"fn\":"
    } else {
        b"{\"event\":\"call\",\"fn\":"
    })?;
    serde_json::to_writer(&mut *out, name)?;
    out.write_all(b",\"ts_ns\":")?;
    out.write_all(n.format(ev.ts_ns).as_bytes())?;
    out.write_all(b",\"pid\":")?;
    out.write_all(n.format(ev.pid).as_bytes())?;
    out.write_all(b",\"tid\":")?;
    out.write_all(n.format(ev.tid).as_bytes())?;
    out.write_all(b",\"goid\":")?;
    match ev.goid {
        Some(g) => out.write_all(n.format(g).as_bytes())?,
        None => out.write_all(b"null")?,
    }
    out.write_all(if ev.is_return {
        b",\"ret\":"
    } else {
        b",\"args\":"
    })?;
    serde_json::to_writer(&mut *out, &ev.values)?;
    if ev.is_return {
        out.write_all(b",\"dur_ns\":")?;
        match ev.dur_ns {
            Some(d) => out.write_all(n.format(d).as_bytes())?,
            None => out.write_all(b"null")?,
        }
    }
    if let Some(stack) = &ev.stack {
        out.write_all(b",\"stack\":")?;
        serde_json::to_writer(&mut *out, stack)?;
    }
    out.write_all(b"}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackFrame;
    use crate::value::Value;
    use crate::value::Values;
    use std::sync::Arc;

    /// The wire form as serde derives it: the reference the hand-written writer must match.
    #[derive(serde::Serialize)]
    struct EventLine<'a> {
        event: &'static str,
        #[serde(rename = "fn")]
        function: &'a str,
        ts_ns: u64,
        pid: u32,
        tid: u32,
        goid: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        args: Option<&'a Values>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ret: Option<&'a Values>,
        #[serde(skip_serializing_if = "Option::is_none")]
        dur_ns: Option<Option<u64>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stack: Option<&'a [StackFrame]>,
    }

    #[test]
    fn the_envelope_is_what_serde_writes() {
        let values = Values::Named(vec![
            (
                "s".into(),
                Value::Str {
                    bytes: Some(b"a \"quoted\" \\ string".to_vec()),
                    len: 20,
                    ptr: 1,
                },
            ),
            ("n".into(), Value::Int(-3)),
        ]);
        let frame = StackFrame {
            function: Arc::from("main.F"),
            file: None,
            line: Some(3),
            inlined: false,
        };
        for (is_return, goid, dur_ns, stack) in [
            (false, Some(7), None, None),
            (false, None, None, Some(vec![frame.clone()])),
            (true, Some(u64::MAX), Some(12), None),
            (true, Some(1), None, None),
        ] {
            let ev = TraceEvent {
                is_return,
                function: 0,
                ts_ns: 123,
                pid: 4,
                tid: u32::MAX,
                goid,
                values: values.clone(),
                dur_ns,
                stack,
            };
            let name = "main.(*T).M\u{1}";
            let mut ours = Vec::new();
            write_event(&mut ours, &ev, name).unwrap();
            let line = EventLine {
                event: if is_return { "return" } else { "call" },
                function: name,
                ts_ns: ev.ts_ns,
                pid: ev.pid,
                tid: ev.tid,
                goid: ev.goid,
                args: (!is_return).then_some(&ev.values),
                ret: is_return.then_some(&ev.values),
                dur_ns: is_return.then_some(ev.dur_ns),
                stack: ev.stack.as_deref(),
            };
            let mut theirs = serde_json::to_vec(&line).unwrap();
            theirs.push(b'\n');
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(theirs).unwrap()
            );
        }
    }
}
