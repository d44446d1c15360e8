// Command typed is the target of the tests of types from the binary itself: the test traces
// its stripped build with no signature and no DWARF, and compares gosyms' JSON events with the
// truth printed here.
//
// The methods of *Store take every kind of parameter. The program prints reflect facts about
// its types first (which also makes the linker keep every exported method's type, mtyp, so
// that gosyms can type these methods from the binary alone). Each traced method then prints,
// from its own goroutine, one JSON line
//
//	{"fn":"main.(*Store).Add","goid":1,"args":{...},"ret":{...}}
//
// with arguments and results named as gosyms names them without DWARF (recv, p0, p1...;
// r0, r1...) and encoded as gosyms encodes them; addresses and what gosyms shows beyond the
// truth are left out, since the test checks that each printed object is a subset of the event.
// Errors show their messages through their own fields (errors.errorString.s,
// fmt.wrapError.msg), as gosyms reads them. main.Mixed is traced without any type at all: its
// words are raw, and its float arguments are unreadable (null) without shifting the others.
//
// If GOSYMS_TEST_WAIT is set, the program first sleeps that many milliseconds. It ends with
// {"done":true}. It builds with Go 1.15 in GOPATH mode.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type obj = map[string]interface{}

var outMu sync.Mutex

// goid returns the current goroutine's id, parsed from "goroutine 7 [running]:".
func goid() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic("cannot parse goroutine id: " + err.Error())
	}
	return id
}

func emitLine(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

func emit(fn string, args, ret obj) {
	emitLine(obj{"fn": fn, "goid": goid(), "args": args, "ret": ret})
}

// Status is a named integer type.
type Status uint8

// Item is what an order holds.
type Item struct {
	Name string
	Qty  int
}

// Order is a named struct with a slice of pointers, a map and a pointer.
type Order struct {
	ID     int64
	Items  []*Item
	Tags   map[string]int
	Status Status
}

// Store is the receiver of the traced methods.
type Store struct {
	Name   string
	Orders int
}

// NotFound is an error type of the program's own.
type NotFound struct {
	ID int64
}

func (e *NotFound) Error() string { return "order " + strconv.FormatInt(e.ID, 10) + " not found" }

// Total is a value-receiver method.
//
//go:noinline
func (o Order) Total(mult int) int {
	n := 0
	for _, it := range o.Items {
		n += it.Qty
	}
	n *= mult
	emit("main.Order.Total", obj{"recv": obj{"ID": o.ID, "Status": o.Status}, "p0": mult}, obj{"r0": n})
	return n
}

//go:noinline
func (s *Store) Add(o *Order) error {
	items := []interface{}{}
	for _, it := range o.Items {
		items = append(items, obj{"value": obj{"Name": it.Name, "Qty": it.Qty}})
	}
	var tags interface{} // a nil map is null
	if o.Tags != nil {
		tags = obj{"len": len(o.Tags)}
	}
	args := obj{
		"recv": obj{"value": obj{"Name": s.Name, "Orders": s.Orders}},
		"p0": obj{"value": obj{
			"ID":     o.ID,
			"Items":  obj{"len": len(o.Items), "cap": cap(o.Items), "elems": items},
			"Tags":   tags,
			"Status": o.Status,
		}},
	}
	var err error
	if o.ID < 0 {
		err = errors.New("negative order id")
	} else {
		s.Orders++
	}
	emit("main.(*Store).Add", args, obj{"r0": errTruth(err)})
	return err
}

//go:noinline
func (s *Store) Find(id int64) (*Order, error) {
	var o *Order
	var err error
	if id == 7 {
		o = &Order{ID: 7, Status: 2}
	} else {
		err = fmt.Errorf("find: %w", &NotFound{ID: id})
	}
	var ot interface{}
	if o != nil {
		ot = obj{"value": obj{"ID": o.ID, "Status": o.Status}}
	}
	emit("main.(*Store).Find", obj{"p0": id}, obj{"r0": ot, "r1": errTruth(err)})
	return o, err
}

//go:noinline
func (s *Store) Count(tags map[string]int, names []string) int {
	// Map entries in key order (the test sorts gosyms' entries the same way).
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	entries := []interface{}{}
	for _, k := range keys {
		entries = append(entries, obj{"key": k, "value": tags[k]})
	}
	elems := []interface{}{}
	for _, n := range names {
		elems = append(elems, n)
	}
	n := len(tags) + len(names)
	var m interface{} // a nil map is null
	if tags != nil {
		m = obj{"len": len(tags), "entries": entries}
	}
	emit("main.(*Store).Count",
		obj{"p0": m, "p1": obj{"len": len(names), "cap": cap(names), "elems": elems}},
		obj{"r0": n})
	return n
}

//go:noinline
func (s *Store) Describe(v interface{}) string {
	var d string
	var vt interface{}
	switch x := v.(type) {
	case int:
		d = "int " + strconv.Itoa(x)
		vt = obj{"type": "int", "value": x}
	case string:
		d = "string " + x
		vt = obj{"type": "string", "value": x}
	case Status:
		d = "status " + strconv.Itoa(int(x))
		vt = obj{"type": "main.Status", "value": x}
	case *Item:
		d = "item " + x.Name
		vt = obj{"type": "*main.Item", "value": obj{"Name": x.Name, "Qty": x.Qty}}
	case []string:
		d = "strings " + strings.Join(x, ",")
		vt = obj{"type": "[]string", "value": obj{"len": len(x), "elems": x}}
	case nil:
		d = "nil"
	}
	emit("main.(*Store).Describe", obj{"p0": vt}, obj{"r0": d})
	return d
}

//go:noinline
func (s *Store) Ratio(a float64, n int, b float32, label string) (float64, int) {
	r := a / float64(b) * float64(n)
	// Floats in registers are unreadable: only n and label are in the truth.
	emit("main.(*Store).Ratio", obj{"p1": n, "p3": label}, obj{"r1": n + 1})
	return r, n + 1
}

//go:noinline
func (s *Store) SetStatus(id int64, st Status, urgent bool, raw []byte) (Status, bool) {
	prev := Status(id % 3)
	emit("main.(*Store).SetStatus",
		obj{"p0": id, "p1": st, "p2": urgent, "p3": obj{"len": len(raw), "cap": cap(raw), "text": string(raw)}},
		obj{"r0": prev, "r1": !urgent})
	return prev, !urgent
}

// Mixed is traced with no types at all: a float first must not shift the other words.
//
//go:noinline
func Mixed(f float64, n int, s string, g float32, b byte) int {
	r := int(f) + n + len(s) + int(g) + int(b)
	emitLine(obj{"fn": "main.Mixed", "goid": goid(), "words": obj{"n": n, "slen": len(s), "b": b}, "r": r})
	return r
}

// errTruth encodes an error as gosyms shows it: its dynamic type, and its fields.
func errTruth(err error) interface{} {
	switch e := err.(type) {
	case nil:
		return nil
	case *NotFound:
		return obj{"type": "*main.NotFound", "value": obj{"ID": e.ID}}
	}
	t := fmt.Sprintf("%T", err)
	switch t {
	case "*errors.errorString":
		return obj{"type": t, "value": obj{"s": err.Error()}}
	case "*fmt.wrapError":
		inner := errTruth(errors.Unwrap(err))
		return obj{"type": t, "value": obj{"msg": err.Error(), "err": inner}}
	}
	return obj{"type": t}
}

// describeTypes prints reflect facts about the program's types: their names, kinds, sizes and
// methods. Listing methods keeps every exported method's type in the binary.
func describeTypes() {
	for _, v := range []interface{}{&Store{}, Order{}, &Item{}, Status(0), &NotFound{}} {
		t := reflect.TypeOf(v)
		var methods []string
		for i := 0; i < t.NumMethod(); i++ {
			m := t.Method(i)
			methods = append(methods, m.Name+" "+m.Type.String())
		}
		emitLine(obj{"type": t.String(), "kind": t.Kind().String(), "size": t.Size(), "methods": methods})
	}
}

func main() {
	if ms, err := strconv.Atoi(os.Getenv("GOSYMS_TEST_WAIT")); err == nil {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	describeTypes()
	s := &Store{Name: "main"}
	o := &Order{ID: 7, Items: []*Item{{"apple", 3}, {"pear", 1}}, Tags: map[string]int{"fruit": 2}, Status: 1}
	s.Add(o)
	s.Add(&Order{ID: -1})
	s.Find(7)
	s.Find(9)
	s.Count(map[string]int{"a": 1, "b": 2}, []string{"x", "yy", "zzz"})
	s.Count(nil, nil)
	s.Describe(42)
	s.Describe("hello")
	s.Describe(Status(3))
	s.Describe(&Item{"plum", 5})
	s.Describe([]string{"p", "q"})
	s.Describe(nil)
	s.Ratio(1.5, 4, 0.5, "ratio")
	s.SetStatus(10, 2, true, []byte("rush"))
	o.Total(2)
	Mixed(2.5, 7, "four", 1.5, 9)
	emitLine(obj{"done": true})
}
