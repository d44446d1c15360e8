// Command spans is what the OTLP and Perfetto tests trace: a known call tree on several
// goroutines, in which every call prints its own place in the tree (the truth the spans and
// slices are checked against).
//
// Usage: spans MODE
//
//	tree    on 4 goroutines, Node(root, 0, 0, "gK") for roots 1..4: each Node with depth < 3
//	        calls Node for its children id*10+1 .. id*10+3, and each Node at depth 3 calls
//	        Leaf(id). Every Node prints {"fn":"main.Node","goid":G,"id":I,"parent":P,
//	        "depth":D,"label":L,"sum":S} just before it returns (S is its result). Then
//	        Guard(7) calls Risky(7), which panics (Guard recovers: Risky's return is never
//	        seen), and a goroutine enters Block(9) and never leaves it. Ends with
//	        {"done":true} while Block still runs.
//	loop N  calls Leaf(i) N times, then prints {"calls":N,"ns_per_call":X,"cpu_ns_per_call":Y}:
//	        the program's own measure of what tracing costs it, in wall time and in the CPU
//	        time the kernel charged it (user + system: a uprobe's trap and BPF program run in
//	        the traced thread), which other load on the machine hardly changes.
//
// It builds with Go 1.15 in GOPATH mode.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const maxDepth = 3

var outMu sync.Mutex

func goid() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic("cannot parse goroutine id: " + err.Error())
	}
	return id
}

func emitLine(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

// Leaf is the innermost call.
//
//go:noinline
func Leaf(x int) (y int) {
	return x*2 + 1
}

// Node is one node of the tree.
//
//go:noinline
func Node(id int, parent int, depth int, label string) (sum int) {
	sum = id
	if depth < maxDepth {
		for k := 1; k <= 3; k++ {
			sum += Node(id*10+k, id, depth+1, label)
		}
	} else {
		sum += Leaf(id)
	}
	emitLine(map[string]interface{}{"fn": "main.Node", "goid": goid(), "id": id,
		"parent": parent, "depth": depth, "label": label, "sum": sum})
	return sum
}

// Risky panics: its RET never runs.
//
//go:noinline
func Risky(id int) (r int) {
	if id > 0 {
		panic("risky " + strconv.Itoa(id))
	}
	return id
}

// Guard recovers from Risky's panic and returns normally.
//
//go:noinline
func Guard(id int) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	Risky(id)
	return true
}

// Block never returns.
//
//go:noinline
func Block(id int, entered chan<- bool) (r int) {
	entered <- true
	select {}
}

func tree() {
	var wg sync.WaitGroup
	for root := 1; root <= 4; root++ {
		wg.Add(1)
		go func(root int) {
			defer wg.Done()
			Node(root, 0, 0, "g"+strconv.Itoa(root))
		}(root)
	}
	wg.Wait()
	Guard(7)
	entered := make(chan bool)
	go Block(9, entered)
	<-entered
	emitLine(map[string]interface{}{"done": true})
}

// cpuNs is the CPU time the kernel charged this process so far (user + system).
func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func loop(n int) {
	s := 0
	cpu := cpuNs()
	start := time.Now()
	for i := 0; i < n; i++ {
		s += Leaf(i)
	}
	elapsed := time.Since(start)
	cpu = cpuNs() - cpu
	if s == 42 {
		fmt.Fprintln(os.Stderr, "unlikely")
	}
	emitLine(map[string]interface{}{"calls": n, "ns_per_call": float64(elapsed.Nanoseconds()) / float64(n),
		"cpu_ns_per_call": float64(cpu) / float64(n)})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: spans tree | spans loop N")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "tree":
		tree()
	case "loop":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		loop(n)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
