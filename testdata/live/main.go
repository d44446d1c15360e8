// Command live is what the tests of `gosyms trace` as a live tool trace: events that arrive
// while the program still runs, signals passed on to it, its own stdout kept out of the event
// stream, and functions that are a single RET instruction.
//
// Usage: live MODE
//
//	stdin   calls Tick(0), prints "tick 0", then for each line read from stdin calls
//	        Tick(i) and prints "tick i"; at the end of stdin prints "done".
//	signal  calls Tick(0), prints "ready", waits for SIGINT or SIGTERM, prints
//	        "got SIGINT" (or SIGTERM) and exits with status 3.
//	stay    as signal, but keeps running after each signal (until killed, or 60 s).
//	single  calls the single-RET functions Nothing, Identity, Empty.Method and
//	        time.Duration.Nanoseconds 1000 times each on 4 goroutines, then prints the
//	        number of calls of each as JSON.
//
// It builds with Go 1.15 in GOPATH mode.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Tick is the function the live tests trace.
//
//go:noinline
func Tick(i int) int { return i * 2 }

// Nothing compiles to a single RET.
//
//go:noinline
func Nothing() {}

// Identity compiles to a single RET with the register ABI (argument and result in AX).
//
//go:noinline
func Identity(x int) int { return x }

// nanoseconds is time.Duration.Nanoseconds called through a variable, so that the call is
// not inlined.
var nanoseconds = time.Duration.Nanoseconds

type Empty struct{}

// Method compiles to a single RET.
//
//go:noinline
func (Empty) Method() {}

func waitForSignals(exit bool) {
	c := make(chan os.Signal, 2)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	Tick(0)
	fmt.Println("ready")
	deadline := time.After(60 * time.Second)
	for {
		select {
		case s := <-c:
			name := "SIGINT"
			if s == syscall.SIGTERM {
				name = "SIGTERM"
			}
			fmt.Println("got", name)
			if exit {
				os.Exit(3)
			}
		case <-deadline:
			fmt.Println("timed out")
			os.Exit(4)
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: live stdin|signal|stay|single")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "stdin":
		i := 0
		Tick(i)
		fmt.Println("tick", i)
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			i++
			Tick(i)
			fmt.Println("tick", i)
		}
		fmt.Println("done")
	case "signal":
		waitForSignals(true)
	case "stay":
		waitForSignals(false)
	case "single":
		const goroutines, calls = 4, 1000
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < calls; i++ {
					Nothing()
					Identity(i)
					Empty{}.Method()
					nanoseconds(time.Duration(i))
				}
			}()
		}
		wg.Wait()
		n := goroutines * calls
		out, _ := json.Marshal(map[string]int{
			"main.Nothing": n, "main.Identity": n, "main.Empty.Method": n,
			"time.Duration.Nanoseconds": n,
		})
		fmt.Println(string(out))
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
