// Command unstrip is the test program of `gosyms unstrip`: the tests run a stripped build
// rewritten by unstrip under gdb, perf and bpftrace and compare what those tools see with what
// this program says about itself and with the unstripped build.
//
// It prints the number of calls it makes to main.counted, its own stack (as the Go runtime
// expands it, inlined frames included) from main.leaf, which is reached through two inlined
// calls, and the result of main.hot, which burns CPU for the given number of rounds (argument
// 1, default 1). Everything it prints is deterministic.
package main

import (
	"os"
	"runtime"
	"strconv"
)

// calls counts the calls to counted, as the program makes them.
var calls int

// counted is called a fixed number of times; a uprobe on it must fire that often.
//
//go:noinline
func counted(i int) int {
	calls++
	return i * 3
}

// leaf prints the stack as the runtime sees it: gdb's backtrace from here must agree.
//
//go:noinline
func leaf(n int) int {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	for {
		f, more := frames.Next()
		os.Stdout.WriteString("frame\t" + f.Function + "\t" + f.File + ":" + strconv.Itoa(f.Line) + "\n")
		if !more || f.Function == "main.main" {
			break
		}
	}
	return n + 1
}

// inner and middle are inlined into outer.
func inner(n int) int { return leaf(n) * 2 }

func middle(n int) int { return inner(n) + 1 }

//go:noinline
func outer(n int) int { return middle(n) }

// hot spins: perf must name it as the function where the time goes.
//
//go:noinline
func hot(rounds int) uint64 {
	x := uint64(88172645463325252)
	for i := 0; i < rounds*20000000; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func main() {
	rounds := 1
	if len(os.Args) > 1 {
		rounds, _ = strconv.Atoi(os.Args[1])
	}
	sum := 0
	for i := 0; i < 1234; i++ {
		sum += counted(i)
	}
	os.Stdout.WriteString("counted calls: " + strconv.Itoa(calls) + " sum " + strconv.Itoa(sum) + "\n")
	os.Stdout.WriteString("outer: " + strconv.Itoa(outer(20)) + "\n")
	os.Stdout.WriteString("hot: " + strconv.FormatUint(hot(rounds), 16) + "\n")
}
