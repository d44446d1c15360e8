// Command inline prints its own call stack, as the Go runtime expands it, from a point where
// two calls were inlined: the truth that `gosyms lookup` must reproduce from the binary alone.
// Each line: the frame's PC (hex), function, file:line. The test builds it with several
// toolchains, stripped, and runs it.
package main

import (
	"os"
	"runtime"
	"strconv"
)

// capture records the stack; it is not inlined, so its caller's inlined frames show.
//
//go:noinline
func capture() []uintptr {
	pcs := make([]uintptr, 32)
	return pcs[:runtime.Callers(1, pcs)]
}

// inner and middle are small enough to be inlined into outer.
func inner() []uintptr { return capture() }

func middle() []uintptr { return inner() }

//go:noinline
func outer() []uintptr { return middle() }

func main() {
	frames := runtime.CallersFrames(outer())
	for {
		f, more := frames.Next()
		os.Stdout.WriteString("0x" + strconv.FormatUint(uint64(f.PC), 16) + "\t" + f.Function + "\t" + f.File + ":" + strconv.Itoa(f.Line) + "\n")
		if !more {
			break
		}
	}
}
