// Command reflect prints what package reflect says about its own types, one JSON object per
// type, in the shape of `gosyms types --json`: the truth the type descriptor tests compare
// gosyms with, on this program's stripped build.
//
// The first line is {"main": address of main.main at run time}, to undo a PIE's load bias; every
// other line has "addr", the run-time address of the type's descriptor.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"unsafe"
)

type Mode uint32

func (m Mode) String() string { return fmt.Sprintf("mode %d", uint32(m)) }
func (m Mode) Perm() Mode     { return m & 0777 }

type Names []string
type Lookup map[string]int
type Handler func(name string, args ...int) (int, error)
type Pipe chan<- *Item
type Grid [3][4]float32

type Base struct{ Created int64 }

func (b Base) Age() int64 { return b.Created }

type Extra struct {
	X    [3]uint16
	note string
}

type Item struct {
	Name  string
	Price float64
	tags  []string
	Count uint8
}

type Order struct {
	ID    int64
	Items []*Item `json:"items"`
	Note  string  `json:"note,omitempty"`
	meta  map[string]int
	Base
	*Extra
	fmt.Stringer
	in   <-chan int
	out  chan<- []byte
	both chan struct{}
	fn   func(int, ...string) (bool, error)
	c64  complex64
	c128 complex128
	ptr  unsafe.Pointer
	up   uintptr
	flag bool
	i8   int8
	i16  int16
	i32  int32
	u    uint
	u16  uint16
	u32  uint32
	u64  uint64
	f32  float32
	anon struct {
		A int
		b string
	}
}

func (o *Order) Total() float64 {
	t := 0.0
	for _, i := range o.Items {
		t += i.Price
	}
	return t
}
func (o Order) Count(filter func(*Item) bool, names ...string) (n int, err error) { return 0, nil }
func (o *Order) unexported()                                                      {}

type Node struct {
	Val  int
	Next *Node
	Kids []Node
}

type Shape interface {
	Area() float64
	Name() string
}

type Circle struct{ R float64 }

func (c *Circle) Area() float64         { return 3 * c.R * c.R }
func (c *Circle) Name() string          { return "circle" }
func (c Circle) Diameter() float64      { return 2 * c.R }
func (c Circle) Scale(f float64) Circle { return Circle{c.R * f} }

type Named interface {
	Shape
	fmt.Stringer
	Describe(verbose bool) (string, []byte)
}

type Big struct{ A [200]byte }
type Key struct {
	A [130]byte
	n int
}

// Values of every type the test looks at.
func values() []interface{} {
	vals := []interface{}{
		Mode(0), Names{}, Lookup{}, Handler(nil), Pipe(nil), Grid{}, Base{}, Extra{}, Item{},
		Order{}, &Order{}, Node{}, &Node{}, (*Shape)(nil), Circle{}, &Circle{}, (*Named)(nil),
		Big{}, Key{}, map[string]Big{}, map[Key]int{}, map[int]*Item{}, []Order{}, [2]*Node{},
		make(chan Mode), (<-chan int)(nil), func(...interface{}) {}, struct{}{},
		struct {
			X, Y int `tag:"x"`
		}{}, uintptr(0), unsafe.Pointer(nil), true, int8(0), int16(0), int32(0), int64(0),
		uint(0), uint8(0), uint16(0), uint32(0), uint64(0), float32(0), float64(0),
		complex64(0), complex128(0), "", []byte{}, [0]int{}, (*error)(nil),
		(*interface{})(nil), map[string][]map[int]string{},
	}
	return append(vals, generics()...)
}

type field struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"`
	Offset   uintptr `json:"offset"`
	Embedded bool    `json:"embedded"`
	Exported bool    `json:"exported"`
	Tag      *string `json:"tag"`
}

type method struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type entry struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	Size       uintptr  `json:"size"`
	Align      int      `json:"align"`
	FieldAlign int      `json:"field_align"`
	Addr       uintptr  `json:"addr"`
	Named      bool     `json:"named"`
	PkgPath    string   `json:"pkg_path"`
	Elem       *string  `json:"elem,omitempty"`
	Key        *string  `json:"key,omitempty"`
	Len        *int     `json:"len,omitempty"`
	Dir        *string  `json:"dir,omitempty"`
	Params     []string `json:"params,omitempty"`
	Results    []string `json:"results,omitempty"`
	Variadic   *bool    `json:"variadic,omitempty"`
	Fields     []field  `json:"fields,omitempty"`
	Methods    []method `json:"methods,omitempty"`
}

// funcString writes a func type's parameters and results as reflect does, leaving out the first
// `skip` parameters (a method's receiver).
func funcString(t reflect.Type, skip int) string {
	var in []string
	for i := skip; i < t.NumIn(); i++ {
		s := t.In(i).String()
		if t.IsVariadic() && i == t.NumIn()-1 {
			s = "..." + t.In(i).Elem().String()
		}
		in = append(in, s)
	}
	var out []string
	for i := 0; i < t.NumOut(); i++ {
		out = append(out, t.Out(i).String())
	}
	s := "func(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
	case 1:
		s += " " + out[0]
	default:
		s += " (" + strings.Join(out, ", ") + ")"
	}
	return s
}

func describe(t reflect.Type) entry {
	e := entry{
		Name: t.String(), Kind: t.Kind().String(), Size: t.Size(), Align: t.Align(),
		FieldAlign: t.FieldAlign(), Named: t.Name() != "", PkgPath: t.PkgPath(),
		Addr: reflect.ValueOf(t).Pointer(),
	}
	str := func(s string) *string { return &s }
	switch t.Kind() {
	case reflect.Ptr, reflect.Slice:
		e.Elem = str(t.Elem().String())
	case reflect.Array:
		e.Elem = str(t.Elem().String())
		n := t.Len()
		e.Len = &n
	case reflect.Chan:
		e.Elem = str(t.Elem().String())
		e.Dir = str(map[reflect.ChanDir]string{reflect.RecvDir: "recv", reflect.SendDir: "send", reflect.BothDir: "both"}[t.ChanDir()])
	case reflect.Map:
		e.Key = str(t.Key().String())
		e.Elem = str(t.Elem().String())
	case reflect.Func:
		e.Params, e.Results = []string{}, []string{}
		for i := 0; i < t.NumIn(); i++ {
			e.Params = append(e.Params, t.In(i).String())
		}
		for i := 0; i < t.NumOut(); i++ {
			e.Results = append(e.Results, t.Out(i).String())
		}
		v := t.IsVariadic()
		e.Variadic = &v
	case reflect.Struct:
		e.Fields = []field{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			var tag *string
			if f.Tag != "" {
				tag = str(string(f.Tag))
			}
			e.Fields = append(e.Fields, field{f.Name, f.Type.String(), f.Offset, f.Anonymous, f.PkgPath == "", tag})
		}
	}
	// Interfaces: every method, without receiver; other types: the exported methods (all that
	// reflect shows), with the receiver left out.
	skip := 1
	if t.Kind() == reflect.Interface {
		skip = 0
	}
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		e.Methods = append(e.Methods, method{m.Name, funcString(m.Type, skip)})
	}
	return e
}

func main() {
	out := json.NewEncoder(os.Stdout)
	out.Encode(map[string]uintptr{"main": reflect.ValueOf(main).Pointer()})
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if seen[t] {
			return
		}
		seen[t] = true
		out.Encode(describe(t))
		switch t.Kind() {
		case reflect.Ptr, reflect.Slice, reflect.Array, reflect.Chan:
			walk(t.Elem())
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				walk(t.Field(i).Type)
			}
		case reflect.Func:
			for i := 0; i < t.NumIn(); i++ {
				walk(t.In(i))
			}
			for i := 0; i < t.NumOut(); i++ {
				walk(t.Out(i))
			}
		}
	}
	for _, v := range values() {
		walk(reflect.TypeOf(v))
	}
}
