//go:build !go1.18
// +build !go1.18

package main

// runGenerics stands in for generics.go on toolchains without type parameters.
func runGenerics() string { return "unsupported" }
