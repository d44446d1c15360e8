// Command stress is what the tracer safety tests trace: 1,000 goroutines call main.Step
// millions of times in all, allocating on every call (so the garbage collector runs all the
// time) and now and then recursing through main.Grow, whose large frames make goroutine
// stacks grow and move. Its output does not depend on scheduling, so a traced run must print
// exactly what an untraced run prints.
//
// Usage: stress [CALLS_PER_GOROUTINE]. STRESS_WAIT_MS delays the start (for tracers to attach).
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

type Node struct {
	Name string
	Next *Node
	Vals []int
}

var errOdd = errors.New("every thousandth step fails")

//go:noinline
func Step(i int, s string, n *Node) (int, error) {
	if i%1000 == 999 {
		return len(s), errOdd
	}
	return i + len(s) + len(n.Vals), nil
}

//go:noinline
func Grow(depth int) int {
	var pad [256]byte
	pad[depth%256] = byte(depth)
	if depth == 0 {
		return int(pad[0])
	}
	return Grow(depth-1) + int(pad[depth%256])
}

func main() {
	calls := 2000
	if len(os.Args) > 1 {
		calls, _ = strconv.Atoi(os.Args[1])
	}
	if ms, err := strconv.Atoi(os.Getenv("STRESS_WAIT_MS")); err == nil {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	const goroutines = 1000
	sums := make([]int, goroutines)
	grows := make([]int, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var keep []*Node
			for i := 0; i < calls; i++ {
				n := &Node{Name: strconv.Itoa(i), Vals: make([]int, i%64)}
				if len(keep) > 0 {
					n.Next = keep[len(keep)-1]
				}
				keep = append(keep, n)
				if len(keep) > 100 {
					keep = keep[:0]
				}
				v, err := Step(i, n.Name, n)
				if err != nil {
					sums[g] -= v
				} else {
					sums[g] += v
				}
				if i%500 == 0 {
					depth := 50 + g%50
					sums[g] += Grow(depth)
					grows[g] += depth + 1
				}
			}
		}(g)
	}
	wg.Wait()
	total, growCalls := 0, 0
	for g := range sums {
		total += sums[g]
		growCalls += grows[g]
	}
	fmt.Printf("{\"total\":%d,\"step_calls\":%d,\"grow_calls\":%d}\n", total, goroutines*calls, growCalls)
}
