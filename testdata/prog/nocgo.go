//go:build !cgo
// +build !cgo

package main

// cgoAdd stands in for cgo.go when cgo is disabled.
func cgoAdd(a, b int) string { return "disabled" }
