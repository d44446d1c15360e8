// Command gosymsprog is the test program of gosyms: it is built with many Go toolchains for many
// targets, stripped and unstripped, and gosyms' recovered symbols are compared against Go's own
// tools run on the unstripped twin. It exercises many kinds of functions (see the comments) and
// prints a few deterministic lines; it must exit 0.
package main

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"example.com/gosymsprog/shapes"
)

var out strings.Builder

// say is a small helper called from many places (inlined).
func say(parts ...string) {
	for _, p := range parts {
		out.WriteString(p)
	}
	out.WriteByte('\n')
}

// itoa is a small inlined helper.
func itoa(n int) string { return strconv.Itoa(n) }

// sq is inlined at every call site, so no symbol of its own survives.
func sq(x int) int { return x * x }

// mix is never inlined.
//
//go:noinline
func mix(a, b int) int { return sq(a)*31 + sq(b) }

// fib is recursive.
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// sum is variadic.
//
//go:noinline
func sum(base int, xs ...int) int {
	for _, x := range xs {
		base += x
	}
	return base
}

// counter returns a closure capturing a variable; the closure is called later.
func counter(step int) func() int {
	n := 0
	return func() int {
		n += step
		return n
	}
}

// apply calls a function value (keeps closures and method values from being inlined away).
//
//go:noinline
func apply(f func() int, times int) int {
	r := 0
	for i := 0; i < times; i++ {
		r = f()
	}
	return r
}

// safeDiv uses defer/recover to survive a division by zero.
func safeDiv(a, b int) (q int, err string) {
	defer func() {
		if r := recover(); r != nil {
			q, err = -1, "recovered"
		}
	}()
	return a / b, "ok"
}

// classify uses a type switch.
//
//go:noinline
func classify(v interface{}) string {
	switch x := v.(type) {
	case int:
		return "int " + itoa(x)
	case string:
		return "string " + x
	case shapes.Shape:
		return "shape " + x.Name()
	case nil:
		return "nil"
	default:
		return "other"
	}
}

// describe calls promoted methods dynamically (the concrete type is unknown here, so the calls
// cannot be devirtualized and the wrappers stay in the binary).
//
//go:noinline
func describe(d shapes.Describer) string {
	s := d.Describe()
	if sh, ok := d.(shapes.Shape); ok {
		s += " " + sh.Name() + " area=" + itoa(sh.Area())
	}
	return s
}

// worker runs in a goroutine and sends its result on a channel.
func worker(id int, wg *sync.WaitGroup, results chan<- int) {
	defer wg.Done()
	results <- mix(id, id+1)
}

// fanOut starts goroutines and collects their results.
//
//go:noinline
func fanOut(n int) []int {
	var wg sync.WaitGroup
	results := make(chan int, n+1)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go worker(i, &wg, results)
	}
	// A goroutine running a closure, too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		results <- fib(10)
	}()
	wg.Wait()
	close(results)
	var got []int
	for r := range results {
		got = append(got, r)
	}
	sort.Ints(got)
	return got
}

// wordCount uses a map.
//
//go:noinline
func wordCount(text string) string {
	counts := map[string]int{}
	for _, w := range strings.Fields(text) {
		counts[w]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + itoa(counts[k]))
	}
	return b.String()
}

func main() {
	r := shapes.NewRect(3, 4)
	c := shapes.NewCircle(2)
	c.Grow(1)
	all := []shapes.Shape{r, c, r.Scale(2)}
	for _, s := range all {
		say(s.Name(), " area=", itoa(s.Area()))
	}
	say("total=", itoa(shapes.Total(all...)))

	// Promoted methods through an embedded interface and an embedded pointer, called dynamically.
	say(describe(shapes.Labeled{Shape: c, Tag: &shapes.Tag{Text: "big"}}))

	// Method value: creates a (*Circle).Area-fm wrapper.
	area := c.Area
	say("method value=", itoa(apply(area, 2)))

	// Closures: returned and called later.
	next := counter(5)
	next()
	say("closure=", itoa(apply(next, 3)))

	say("fib=", itoa(fib(15)), " sum=", itoa(sum(1, 2, 3, 4)), " mix=", itoa(mix(2, 3)))

	q, e := safeDiv(7, 0)
	say("div=", itoa(q), " ", e)

	say(classify(42), "; ", classify("hi"), "; ", classify(r), "; ", classify(nil), "; ", classify(1.5))

	res := fanOut(4)
	strs := make([]string, len(res))
	for i, v := range res {
		strs[i] = itoa(v)
	}
	say("workers=", strings.Join(strs, ","))

	say("words: ", wordCount("b a c a b a"))
	say("generics: ", runGenerics())
	say("cgo: ", cgoAdd(40, 2))

	os.Stdout.WriteString(out.String())
}
