// The HTTP server of benches/trace_overhead.py's requests/s rows: net/http serving a small
// JSON answer on 127.0.0.1. It prints {"port": N} once it listens, and runs until killed.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("{\"port\":%d}\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"path":` + strconv.Quote(r.URL.Path) + `}`))
	})
	http.Serve(ln, nil)
}
