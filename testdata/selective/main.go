// Command selective is what the tests of gosyms' filters, stacks and statistics trace. Every
// call it makes to a traced function is printed as one JSON line, the truth:
//
//	{"fn": NAME, "goid": G, "tid": T, "args": {...}, "ret": {...}, "dur_ns": D}
//
// with dur_ns the call's duration as the program itself measured it (around the call).
//
// Usage: selective MODE [wait]
//
//	filters  Lookup and Small, on three goroutines each locked to its thread (so that --goid
//	         and --tid select known calls), with values that the tests' --where conditions split
//	slow     Nap, fast and slow, for --min-duration
//	stacks   Leaf through nested, inlined and recursive calls, on main and on a goroutine;
//	         Leaf prints the frames runtime.Callers gives it ("frames")
//	stats    Work with known latencies and errors, on two goroutines
//	wander   Nap, on four goroutines that unlock their threads first: a call that sleeps
//	         often returns on another thread than the one it was made on (for --tid)
//
// With "wait", it first prints {"ready": true, "goids": [...], "tids": [...]} (the workers'
// goroutines and threads) and reads one line from stdin before it calls anything, so that a
// tracer can attach to it with --pid. It ends with {"done": true, "calls": N, "errors": E}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

type Item struct {
	Name  string
	Hits  int
	Up    bool
	Level int16 // inside a word: compared shifted
}

var errNotFound = errors.New("not found")

//go:noinline
func Lookup(name string, id int32, flag bool, p *Item) (n int, err error) {
	if id%4 == 0 {
		return 0, errNotFound
	}
	return len(name) + int(id), nil
}

//go:noinline
func Small(a int8, b uint16, c int64, d uint8) (sum int) {
	return int(a) + int(b) + int(c) + int(d)
}

//go:noinline
func Nap(ms int) int {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms
}

//go:noinline
func Work(ms int, fail bool) error {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	if fail {
		return errNotFound
	}
	return nil
}

type frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

//go:noinline
func Leaf(depth int) int {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var out []frame
	for {
		f, more := frames.Next()
		out = append(out, frame{f.Function, f.File, f.Line})
		if !more {
			break
		}
	}
	emit(map[string]interface{}{"fn": "main.Leaf", "goid": goid(), "args": map[string]interface{}{"depth": depth}, "frames": out})
	return depth
}

// Small enough to be inlined into Middle: its frame is an inlined one.
func inlined(d int) int { return Leaf(d) + 1 }

//go:noinline
func Middle(d int) int {
	if d > 0 {
		return Middle(d-1) + 1
	}
	return inlined(d)
}

var (
	mu  sync.Mutex
	out = bufio.NewWriter(os.Stdout)
)

func emit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	mu.Lock()
	out.Write(b)
	out.WriteByte('\n')
	out.Flush()
	mu.Unlock()
}

// goid is the calling goroutine's id, from its stack trace's first line.
func goid() uint64 {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	b = b[:bytes.IndexByte(b, ' ')]
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return n
}

func call(fn string, args, ret map[string]interface{}, start time.Time) {
	emit(map[string]interface{}{"fn": fn, "goid": goid(), "tid": syscall.Gettid(), "args": args, "ret": ret,
		"dur_ns": time.Since(start).Nanoseconds()})
}

func errValue(err error) interface{} {
	if err == nil {
		return nil
	}
	return map[string]interface{}{"type": "*errors.errorString"}
}

func itemValue(p *Item) interface{} {
	if p == nil {
		return nil
	}
	return map[string]interface{}{"value": map[string]interface{}{"Name": p.Name, "Hits": p.Hits, "Up": p.Up, "Level": p.Level}}
}

var (
	names = []string{"api/users", "api/", "x", "xy", "", "apx",
		"api/a-name-longer-than-the-sixty-four-bytes-a-probe-reads-of-strings-by-default"}
	items = []*Item{nil, {"alpha", 3, true, -2}, {"beta", 1, false, 5}, {"alpha", 7, false, -300}}
	as    = []int8{-128, -6, -5, 0, 127}
	bs    = []uint16{0, 59999, 60000, 65535}
	cs    = []int64{-1 << 40, 0, 1<<40 - 1, 1 << 40}
	ds    = []uint8{0, 254, 255}
)

// filters runs on one worker goroutine, locked to its thread.
func filters(worker int) (calls, fails int) {
	for i := 0; i < 60; i++ {
		name, id, flag, p := names[(i+worker)%len(names)], int32(i%16-3), (i+worker)%3 == 0, items[i%len(items)]
		start := time.Now()
		n, err := Lookup(name, id, flag, p)
		call("main.Lookup", map[string]interface{}{"name": name, "id": id, "flag": flag, "p": itemValue(p)},
			map[string]interface{}{"n": n, "err": errValue(err)}, start)
		calls++
		if err != nil {
			fails++
		}
		a, b, c, d := as[i%len(as)], bs[i%len(bs)], cs[(i+worker)%len(cs)], ds[i%len(ds)]
		start = time.Now()
		r := Small(a, b, c, d)
		call("main.Small", map[string]interface{}{"a": a, "b": b, "c": c, "d": d},
			map[string]interface{}{"sum": r}, start)
		calls++
	}
	return
}

func slow() (calls int) {
	for i := 0; i < 30; i++ {
		ms := 0
		if i%6 == 5 {
			ms = 40
		}
		start := time.Now()
		r := Nap(ms)
		call("main.Nap", map[string]interface{}{"ms": ms}, map[string]interface{}{"~r0": r}, start)
		calls++
	}
	return
}

func wander() (calls int) {
	for i := 0; i < 50; i++ {
		start := time.Now()
		r := Nap(1)
		call("main.Nap", map[string]interface{}{"ms": 1}, map[string]interface{}{"~r0": r}, start)
		calls++
	}
	return
}

func stats(worker int) (calls, fails int) {
	for i := 0; i < 40; i++ {
		ms, fail := []int{0, 1, 3, 9}[(i+worker)%4], i%5 == worker
		start := time.Now()
		err := Work(ms, fail)
		call("main.Work", map[string]interface{}{"ms": ms, "fail": fail},
			map[string]interface{}{"~r0": errValue(err)}, start)
		calls++
		if err != nil {
			fails++
		}
	}
	return
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: selective filters|slow|stacks|stats [wait]")
		os.Exit(2)
	}
	mode, wait := os.Args[1], len(os.Args) > 2 && os.Args[2] == "wait"
	workers := map[string]int{"filters": 3, "slow": 1, "stacks": 1, "stats": 2, "wander": 4}[mode]
	if workers == 0 {
		fmt.Fprintf(os.Stderr, "selective: unknown mode %q\n", mode)
		os.Exit(2)
	}
	// Workers lock their threads and say who they are, then wait for the start.
	start := make(chan struct{})
	type ident struct {
		goid uint64
		tid  int
	}
	idents := make(chan ident)
	var wg sync.WaitGroup
	var total, failed int
	var tmu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			runtime.LockOSThread()
			idents <- ident{goid(), syscall.Gettid()}
			<-start
			var c, f int
			switch mode {
			case "filters":
				c, f = filters(w)
			case "slow":
				c = slow()
			case "stacks":
				Middle(2)
				c = 1
			case "stats":
				c, f = stats(w)
			case "wander":
				runtime.UnlockOSThread()
				c = wander()
			}
			tmu.Lock()
			total, failed = total+c, failed+f
			tmu.Unlock()
		}(w)
	}
	var goids []uint64
	var tids []int
	for w := 0; w < workers; w++ {
		id := <-idents
		goids, tids = append(goids, id.goid), append(tids, id.tid)
	}
	if wait {
		emit(map[string]interface{}{"ready": true, "goids": goids, "tids": tids})
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	if mode == "stacks" {
		Middle(0)
		Middle(3)
		total += 2
	}
	close(start)
	wg.Wait()
	emit(map[string]interface{}{"done": true, "calls": total, "errors": failed})
}
