// The tracing-overhead loop (benches/trace_overhead.py): calls Target N times and prints the
// wall time of the loop divided by N as JSON, and the CPU time (user + system) the kernel
// charged the process for it, which other load on the machine hardly changes (a uprobe's trap
// and BPF program run in the traced thread). N comes from the first argument. Every call
// passes an interface value and returns a non-nil error, so that gosyms decodes both by their
// dynamic types (an int behind `any`, an *errors.errorString with its message) on every call.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

var errDone = errors.New("done")

//go:noinline
func Target(n int, s string, v interface{}) (int, error) {
	if i, ok := v.(int); ok {
		n += i & 1
	}
	return n + len(s), errDone
}

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintln(os.Stderr, "usage: loop [N]")
			os.Exit(2)
		}
		n = v
	}
	s := "hello, gosyms benchmark"
	sum := 0
	cpu := cpuNs()
	start := time.Now()
	for i := 0; i < n; i++ {
		r, err := Target(i, s, i)
		if err != errDone {
			panic(err)
		}
		sum += r
	}
	elapsed := time.Since(start)
	cpu = cpuNs() - cpu
	fmt.Printf("{\"calls\":%d,\"ns_per_call\":%.3f,\"loop_ns\":%d,\"cpu_ns_per_call\":%.3f,\"sum\":%d}\n",
		n, float64(elapsed.Nanoseconds())/float64(n), elapsed.Nanoseconds(), float64(cpu)/float64(n), sum)
}

// cpuNs is the CPU time the kernel charged this process so far (user + system).
func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
