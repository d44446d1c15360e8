// Command trace is the target of the end-to-end tracing test: the test runs it under
// `gosyms trace --max-str 64` and compares gosyms' JSON events with the truth printed here.
//
// Every traced function (the exported ones below, all //go:noinline) prints, from the
// goroutine that made the call and just before it returns, one JSON line on stdout:
//
//	{"fn":"main.Ints","goid":1,"args":{...},"ret":{...}}
//
// args and ret are encoded the way gosyms encodes values (strings longer than 64 bytes are
// truncated, slices show len/cap and their first elements, pointers {"value":...}, errors
// {"type":"%T"}); keys gosyms prints but the truth cannot know, such as addresses, are left
// out, since the test only checks that each printed object is a subset of gosyms' event.
// Floats, maps, chans and funcs are never printed. Every result is named explicitly because
// the DWARF names of unnamed results (~r0, ~r2...) differ between Go versions.
//
// Helpers are named goid or emit* so that tracing the exported functions never traces them.
// If GOSYMS_TEST_WAIT is set, the program first sleeps that many milliseconds, giving the
// tracer time to attach. It ends with {"done":true}. It builds with Go 1.15 in GOPATH mode.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxStr matches the --max-str the test passes to gosyms; maxElems and maxBytes are
// gosyms' limits for slice elements and []byte contents.
const (
	maxStr   = 64
	maxElems = 16
	maxBytes = 64
)

type obj = map[string]interface{}

var outMu sync.Mutex

// goid returns the current goroutine's id, parsed from "goroutine 7 [running]:".
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

// emitLine writes one JSON line to stdout in a single write.
func emitLine(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

// emit prints the truth about one call of fn; it must be called by the calling goroutine.
func emit(fn string, args, ret obj) {
	emitLine(obj{"fn": fn, "goid": goid(), "args": args, "ret": ret})
}

// emitStr encodes a string: itself, or a truncated object when longer than maxStr bytes.
func emitStr(s string) interface{} {
	if len(s) <= maxStr {
		return s
	}
	return obj{"len": len(s), "truncated": true, "str": s[:maxStr]}
}

// emitBytes encodes a []byte as len, cap and the hex of its first bytes.
func emitBytes(b []byte) interface{} {
	n := len(b)
	if n > maxBytes {
		n = maxBytes
	}
	return obj{"len": len(b), "cap": cap(b), "hex": hex.EncodeToString(b[:n])}
}

// emitSlice encodes a slice of scalars as len, cap and its first elements.
func emitSlice(v interface{}) interface{} {
	s := reflect.ValueOf(v)
	elems := []interface{}{} // never nil: a nil slice prints "elems":[]
	for i := 0; i < s.Len() && i < maxElems; i++ {
		elems = append(elems, s.Index(i).Interface())
	}
	return obj{"len": s.Len(), "cap": s.Cap(), "elems": elems}
}

// emitPtr encodes a pointer from the value it points to (nil for a nil pointer).
// Structs with only exported int and short string fields marshal as gosyms prints them.
func emitPtr(isNil bool, value interface{}) interface{} {
	if isNil {
		return nil
	}
	return obj{"value": value}
}

// emitErr encodes an error or other interface by its dynamic type.
func emitErr(err error) interface{} {
	if err == nil {
		return nil
	}
	return obj{"type": fmt.Sprintf("%T", err)}
}

type Point struct{ X, Y int }

type Server struct {
	Name string
	Hits int
}

// BigT is ten words: too many for registers, so it is passed on the stack.
type BigT struct{ A, B, C, D, E, F, G, H, I, J int64 }

// MyErr is a value type implementing error.
type MyErr struct{ Code int }

func (e MyErr) Error() string { return "my error " + strconv.Itoa(e.Code) }

//go:noinline
func Ints(a int, b int8, c int16, d int32, e int64, f uint, g uint8, h uint16, i uint32, j uint64) (sum uint64) {
	sum = uint64(a) + uint64(b) + uint64(c) + uint64(d) + uint64(e) + uint64(f) + uint64(g) + uint64(h) + uint64(i) + j
	emit("main.Ints", obj{"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "h": h, "i": i, "j": j},
		obj{"sum": sum})
	return sum
}

//go:noinline
func Bools(x bool, y bool) (both bool) {
	both = x && y
	emit("main.Bools", obj{"x": x, "y": y}, obj{"both": both})
	return both
}

//go:noinline
func Strings(empty string, ascii string, uni string, long string) (n int) {
	n = len(empty) + len(ascii) + len(uni) + len(long)
	emit("main.Strings", obj{"empty": emitStr(empty), "ascii": emitStr(ascii), "uni": emitStr(uni), "long": emitStr(long)},
		obj{"n": n})
	return n
}

//go:noinline
func Bytes(b []byte, xs []int, small []uint16, none []int) (total int) {
	total = len(b) + len(xs) + len(small) + len(none)
	emit("main.Bytes", obj{"b": emitBytes(b), "xs": emitSlice(xs), "small": emitSlice(small), "none": emitSlice(none)},
		obj{"total": total})
	return total
}

//go:noinline
func Ptr(p *Point, q *Point) (moved *Point) {
	moved = &Point{X: p.X + 1, Y: p.Y + 1}
	emit("main.Ptr", obj{"p": emitPtr(p == nil, p), "q": emitPtr(q == nil, q)},
		obj{"moved": emitPtr(moved == nil, *moved)})
	return moved
}

//go:noinline
func (p Point) Norm1() (n int) {
	n = p.X + p.Y
	if p.X < 0 {
		n -= 2 * p.X
	}
	if p.Y < 0 {
		n -= 2 * p.Y
	}
	emit("main.Point.Norm1", obj{"p": p}, obj{"n": n})
	return n
}

//go:noinline
func (s *Server) Rename(name string) (old string) {
	args := obj{"s": emitPtr(s == nil, *s), "name": emitStr(name)} // copy *s before mutating it
	old = s.Name
	s.Name = name
	s.Hits++
	emit("main.(*Server).Rename", args, obj{"old": emitStr(old)})
	return old
}

//go:noinline
func Small(p Point) (sum int) {
	sum = p.X + p.Y
	emit("main.Small", obj{"p": p}, obj{"sum": sum})
	return sum
}

//go:noinline
func Big(b BigT) (sum int64) {
	sum = b.A + b.B + b.C + b.D + b.E + b.F + b.G + b.H + b.I + b.J
	emit("main.Big", obj{"b": b}, obj{"sum": sum})
	return sum
}

//go:noinline
func Divide(a, b int) (q int, r int, err error) {
	if b == 0 {
		err = errors.New("division by zero")
	} else {
		q, r = a/b, a%b
	}
	emit("main.Divide", obj{"a": a, "b": b}, obj{"q": q, "r": r, "err": emitErr(err)})
	return q, r, err
}

//go:noinline
func Custom(fail bool) (err error) {
	if fail {
		err = MyErr{Code: 42}
	}
	emit("main.Custom", obj{"fail": fail}, obj{"err": emitErr(err)})
	return err
}

//go:noinline
func Sum(label string, xs ...int) (total int) {
	for _, x := range xs {
		total += x
	}
	emit("main.Sum", obj{"label": emitStr(label), "xs": emitSlice(xs)}, obj{"total": total})
	return total
}

//go:noinline
func Fib(n int) (r int) {
	if n < 2 {
		r = n
	} else {
		r = Fib(n-1) + Fib(n-2)
	}
	emit("main.Fib", obj{"n": n}, obj{"r": r})
	return r
}

// Deep recurses n times with a 1 KiB frame, so a fresh goroutine's stack grows (and is
// moved) several times during the outermost call.
//
//go:noinline
func Deep(n int) (r int) {
	var buf [1024]byte
	for i := range buf {
		buf[i] = byte(n + i)
	}
	r = int(buf[n%1024])
	if n > 0 {
		r += Deep(n - 1)
	}
	emit("main.Deep", obj{"n": n}, obj{"r": r})
	return r
}

// Work does a little deterministic work, yielding so that concurrent callers interleave.
//
//go:noinline
func Work(id int) (out int) {
	out = id
	for k := 0; k < 1000; k++ {
		out = (out*31 + k) % 1000003
		if k%100 == 0 {
			runtime.Gosched()
		}
	}
	emit("main.Work", obj{"id": id}, obj{"out": out})
	return out
}

func main() {
	if ms := os.Getenv("GOSYMS_TEST_WAIT"); ms != "" {
		n, err := strconv.Atoi(ms)
		if err != nil {
			panic("GOSYMS_TEST_WAIT: " + err.Error())
		}
		time.Sleep(time.Duration(n) * time.Millisecond)
	}

	// Scalars.
	Ints(-9000, math.MinInt8, math.MaxInt16, math.MinInt32, math.MinInt64, ^uint(0), math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64)
	Ints(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	Bools(true, false)
	Bools(true, true)

	// Strings and slices.
	Strings("", "hello", "héllo, 世界 🌍", strings.Repeat("0123456789", 10))
	b := make([]byte, 5, 8)
	copy(b, "\x00\x01\xfeab")
	xs := make([]int, 20, 32)
	for i := range xs {
		xs[i] = i*i - 5
	}
	Bytes(b, xs, []uint16{1, 65535, 300}, nil)
	long := make([]byte, 80)
	for i := range long {
		long[i] = byte(i * 3)
	}
	Bytes(long, []int{}, make([]uint16, 0, 4), []int{-1})

	// Pointers and methods.
	Ptr(&Point{X: 3, Y: -4}, nil)
	Point{X: -3, Y: 4}.Norm1()
	s := &Server{Name: "alpha", Hits: 7}
	s.Rename("beta")
	s.Rename("gamma")

	// Structs in registers and on the stack.
	Small(Point{X: 10, Y: -20})
	Big(BigT{A: 1, B: -2, C: 3, D: -4, E: 5, F: -6, G: 7, H: -8, I: math.MaxInt64, J: math.MinInt64})

	// Multiple results and errors.
	Divide(17, 5)
	Divide(1, 0)
	Custom(true)
	Custom(false)

	// Variadic.
	Sum("three", 1, 2, 3)
	Sum("none")

	// Recursion.
	Fib(10)

	// Stack growth, in a fresh goroutine whose stack starts small.
	done := make(chan struct{})
	go func() {
		Deep(200)
		close(done)
	}()
	<-done

	// Concurrency: 100 goroutines released together, each calling Work once.
	var wg sync.WaitGroup
	start := make(chan struct{})
	for id := 0; id < 100; id++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			<-start
			Work(id)
		}(id)
	}
	close(start)
	wg.Wait()

	emitLine(obj{"done": true})
}
