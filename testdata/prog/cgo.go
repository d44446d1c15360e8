//go:build cgo
// +build cgo

package main

/*
static int gosyms_add(int a, int b) { return a + b; }
*/
import "C"

// cgoAdd calls a tiny C function (only in CGO_ENABLED=1 builds).
//
//go:noinline
func cgoAdd(a, b int) string {
	return itoa(int(C.gosyms_add(C.int(a), C.int(b))))
}
