//go:build go1.18
// +build go1.18

package main

type Pair[K comparable, V any] struct {
	Key K
	Val V
}

type List[T any] struct {
	items []T
	next  *List[T]
}

func (l *List[T]) Push(v T) { l.items = append(l.items, v) }
func (l *List[T]) Len() int { return len(l.items) }

func generics() []interface{} {
	return []interface{}{Pair[string, int]{}, &List[Order]{}, List[*Node]{}, map[Pair[int, int]]List[string]{}}
}
