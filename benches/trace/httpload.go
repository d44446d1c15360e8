// The load generator of benches/trace_overhead.py's requests/s rows: CONNS keep-alive
// connections asking URL as fast as they are answered for SECONDS, then prints
// {"requests": N, "seconds": S, "rps": R}. Usage: httpload URL SECONDS CONNS.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: httpload URL SECONDS CONNS")
		os.Exit(2)
	}
	url := os.Args[1]
	secs, _ := strconv.ParseFloat(os.Args[2], 64)
	conns, _ := strconv.Atoi(os.Args[3])
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	var done int64
	var failed int64
	stop := time.Now().Add(time.Duration(secs * float64(time.Second)))
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				resp, err := client.Get(url)
				if err != nil {
					atomic.AddInt64(&failed, 1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				atomic.AddInt64(&done, 1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("{\"requests\":%d,\"failed\":%d,\"seconds\":%.3f,\"rps\":%.1f}\n", done, failed, el, float64(done)/el)
}
