// Command dwarftypes prints, for every DWARF type of a Go binary that names its runtime type
// descriptor (DW_AT_go_runtime_type), what DWARF says about it, as one JSON object per line. It
// uses only Go's own debug/elf, debug/pe, debug/macho and debug/dwarf packages: the independent
// truth the type descriptor tests compare gosyms with.
//
// Usage: dwarftypes BINARY
//
// Each line: {"rt": descriptor address, "tag", "name", "kind" (DW_AT_go_kind), "size"
// (DW_AT_byte_size, or -1), "type" (the descriptor of DW_AT_type's target, through typedefs, or
// 0), "elem" and "key" (DW_AT_go_elem, DW_AT_go_key, likewise), "count" (an array's length, or
// -1), "fields": [{"name", "offset", "type", "embedded"}], "params", "results": [descriptor
// addresses], "variadic"}.
package main

import (
	"bufio"
	"debug/dwarf"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/json"
	"fmt"
	"os"
)

const (
	atGoKind        = dwarf.Attr(0x2900)
	atGoKey         = dwarf.Attr(0x2901)
	atGoElem        = dwarf.Attr(0x2902)
	atGoEmbedded    = dwarf.Attr(0x2903)
	atGoRuntimeType = dwarf.Attr(0x2904)
)

type field struct {
	Name     string `json:"name"`
	Offset   int64  `json:"offset"`
	Type     uint64 `json:"type"`
	Embedded bool   `json:"embedded"`
}

type typ struct {
	RT       uint64   `json:"rt"`
	Tag      string   `json:"tag"`
	Name     string   `json:"name"`
	Kind     int64    `json:"kind"`
	Size     int64    `json:"size"`
	Type     uint64   `json:"type"`
	Elem     uint64   `json:"elem"`
	Key      uint64   `json:"key"`
	Count    int64    `json:"count"`
	Fields   []field  `json:"fields"`
	Params   []uint64 `json:"params"`
	Results  []uint64 `json:"results"`
	Variadic bool     `json:"variadic"`
}

type node struct {
	e        *dwarf.Entry
	children []*dwarf.Entry
}

func open(path string) (*dwarf.Data, error) {
	if f, err := elf.Open(path); err == nil {
		return f.DWARF()
	}
	if f, err := macho.Open(path); err == nil {
		return f.DWARF()
	}
	if f, err := pe.Open(path); err == nil {
		return f.DWARF()
	}
	return nil, fmt.Errorf("%s: not ELF, Mach-O or PE", path)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dwarftypes BINARY")
		os.Exit(2)
	}
	d, err := open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dwarftypes:", err)
		os.Exit(2)
	}
	nodes := map[dwarf.Offset]*node{}
	var order []dwarf.Offset
	var stack []*node
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			fmt.Fprintln(os.Stderr, "dwarftypes:", err)
			os.Exit(2)
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if len(stack) > 0 {
			p := stack[len(stack)-1]
			p.children = append(p.children, e)
		}
		n := &node{e: e}
		nodes[e.Offset] = n
		order = append(order, e.Offset)
		if e.Children {
			stack = append(stack, n)
		}
	}
	// The descriptor of the type a reference names: its own, or its typedef's target's.
	var rtOf func(v interface{}, depth int) uint64
	rtOf = func(v interface{}, depth int) uint64 {
		off, ok := v.(dwarf.Offset)
		if !ok || depth > 8 {
			return 0
		}
		n := nodes[off]
		if n == nil {
			return 0
		}
		if rt, ok := n.e.Val(atGoRuntimeType).(uint64); ok {
			return rt
		}
		if n.e.Tag == dwarf.TagTypedef {
			return rtOf(n.e.Val(dwarf.AttrType), depth+1)
		}
		return 0
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for _, off := range order {
		n := nodes[off]
		rt, ok := n.e.Val(atGoRuntimeType).(uint64)
		if !ok || rt == 0 {
			continue
		}
		t := typ{RT: rt, Tag: n.e.Tag.String(), Size: -1, Count: -1, Fields: []field{}, Params: []uint64{}, Results: []uint64{}}
		t.Name, _ = n.e.Val(dwarf.AttrName).(string)
		t.Kind, _ = n.e.Val(atGoKind).(int64)
		if s, ok := n.e.Val(dwarf.AttrByteSize).(int64); ok {
			t.Size = s
		}
		t.Type = rtOf(n.e.Val(dwarf.AttrType), 0)
		t.Elem = rtOf(n.e.Val(atGoElem), 0)
		t.Key = rtOf(n.e.Val(atGoKey), 0)
		for _, c := range n.children {
			switch c.Tag {
			case dwarf.TagMember:
				f := field{Type: rtOf(c.Val(dwarf.AttrType), 0)}
				f.Name, _ = c.Val(dwarf.AttrName).(string)
				f.Offset, _ = c.Val(dwarf.AttrDataMemberLoc).(int64)
				f.Embedded, _ = c.Val(atGoEmbedded).(bool)
				t.Fields = append(t.Fields, f)
			case dwarf.TagSubrangeType:
				if c, ok := c.Val(dwarf.AttrCount).(int64); ok {
					t.Count = c
				}
			case dwarf.TagFormalParameter:
				if v, _ := c.Val(dwarf.AttrVarParam).(bool); v {
					t.Results = append(t.Results, rtOf(c.Val(dwarf.AttrType), 0))
				} else {
					t.Params = append(t.Params, rtOf(c.Val(dwarf.AttrType), 0))
				}
			case dwarf.TagUnspecifiedParameters:
				t.Variadic = true
			}
		}
		if err := enc.Encode(&t); err != nil {
			fmt.Fprintln(os.Stderr, "dwarftypes:", err)
			os.Exit(2)
		}
	}
}
