//! An OTLP/HTTP receiver for benches/trace_overhead.py: prints its base URL on stdout, accepts
//! every export until its stdin closes, then prints how many spans it received and exits.

use gosyms_tests::otlp::{Behavior, Receiver};
use std::io::Read;

fn main() {
    let receiver = Receiver::start(Behavior::Accept);
    println!("{}", receiver.url);
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    println!("{}", receiver.span_count());
}
