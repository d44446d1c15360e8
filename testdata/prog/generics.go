//go:build go1.18
// +build go1.18

package main

import "strings"

// Number is a constraint with a type set.
type Number interface {
	~int | ~int64 | ~float64
}

// Map is a generic function instantiated with several type arguments.
//
//go:noinline
func Map[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// Sum is generic over a constrained type parameter.
//
//go:noinline
func Sum[N Number](xs ...N) N {
	var t N
	for _, x := range xs {
		t += x
	}
	return t
}

// Stack is a generic type with pointer-receiver methods.
type Stack[T any] struct{ items []T }

func (s *Stack[T]) Push(x T) { s.items = append(s.items, x) }

//go:noinline
func (s *Stack[T]) Pop() (T, bool) {
	var zero T
	if len(s.items) == 0 {
		return zero, false
	}
	x := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return x, true
}

func runGenerics() string {
	var si Stack[int]
	var ss Stack[string]
	for i, w := range []string{"x", "y", "z"} {
		si.Push(i + 1)
		ss.Push(w)
	}
	a, _ := si.Pop()
	b, _ := ss.Pop()
	strs := Map([]int{1, 2, 3}, func(i int) string { return itoa(i * a) })
	lens := Map(strs, func(s string) int { return len(s) })
	return strings.Join(strs, ",") + " " + b + " " + itoa(Sum(lens...)) + " " + itoa(int(Sum(1.5, 2.5)))
}
