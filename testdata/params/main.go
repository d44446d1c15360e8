// Command params has functions with every kind of parameter and result a tracer must lay out.
// The resolver test builds it with several toolchains and checks that the layout it derives
// from DWARF equals the layout it derives from the signatures in signatures.txt, typed by hand.
package main

import (
	"errors"
	"os"
	"strconv"
)

type Point struct{ X, Y int }

type Big struct {
	A, B, C, D, E int64
	S          string
}

type Mixed struct {
	Flag  bool
	Small int8
	Wide  uint32
	F     float64
}

type Server struct{ name string }

//go:noinline
func Ints(a int, b int8, c int16, d int32, e int64, f uint, g uint8, h uint16, i uint32, j uint64) uint64 {
	return uint64(a) + uint64(b) + uint64(c) + uint64(d) + uint64(e) + uint64(f) + uint64(g) + uint64(h) + uint64(i) + j
}

//go:noinline
func Scalars(ok bool, p uintptr, x float32, y float64, z complex128) (bool, float64) {
	return ok && p != 0, float64(x) + y + real(z)
}

//go:noinline
func Strings(s string, b []byte, xs []int) (string, int) {
	return s + string(b), len(xs)
}

//go:noinline
func Arrays(one [1]int, three [3]uint16) [1]int {
	one[0] += int(three[2])
	return one
}

//go:noinline
func Pointers(p *Point, m map[string]int, c chan int, f func(int) int) *Point {
	if p == nil || m == nil || c == nil || f == nil {
		return nil
	}
	return p
}

//go:noinline
func Interfaces(e error, a interface{}) (error, interface{}) {
	return e, a
}

//go:noinline
func Structs(p Point, b Big, m Mixed) (Point, Big) {
	p.X += int(m.Small)
	b.A += int64(p.Y)
	return p, b
}

//go:noinline
func Many(a, b, c, d, e, f, g, h, i, j, k int, s string) (int, string) {
	return a + b + c + d + e + f + g + h + i + j + k, s
}

//go:noinline
func (s Server) Name(prefix string) string { return prefix + s.name }

//go:noinline
func (s *Server) Rename(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	s.name = name
	return nil
}

func main() {
	var out []byte
	out = strconv.AppendUint(out, Ints(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 10)
	ok, f := Scalars(true, 1, 1.5, 2.5, complex(1, 2))
	out = strconv.AppendBool(append(out, ' '), ok)
	out = strconv.AppendFloat(append(out, ' '), f, 'g', -1, 64)
	s, n := Strings("a", []byte("b"), []int{1, 2})
	out = append(append(out, ' '), s...)
	out = strconv.AppendInt(append(out, ' '), int64(n), 10)
	out = strconv.AppendInt(append(out, ' '), int64(Arrays([1]int{1}, [3]uint16{1, 2, 3})[0]), 10)
	if Pointers(&Point{1, 2}, map[string]int{}, make(chan int), func(i int) int { return i }) == nil {
		out = append(out, " nil"...)
	}
	e, _ := Interfaces(errors.New("x"), 3)
	out = append(append(out, ' '), e.Error()...)
	p, b := Structs(Point{1, 2}, Big{A: 1}, Mixed{Small: 3})
	out = strconv.AppendInt(append(out, ' '), int64(p.X)+b.A, 10)
	m, ms := Many(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, "z")
	out = strconv.AppendInt(append(out, ' '), int64(m), 10)
	out = append(append(out, ' '), ms...)
	srv := &Server{"x"}
	if srv.Rename("y") == nil {
		out = append(append(out, ' '), srv.Name("n:")...)
	}
	os.Stdout.Write(append(out, '\n'))
}
