// Command stdsigs writes gosyms' table of the Go standard library's function signatures
// (resolver/data/stdsigs.zlib, read by resolver/src/stdsigs.rs). testdata/stdsigs/gen.sh runs
// it; see there.
//
//	GOARCH=A stdsigs A                   the table of the toolchain that built it, for linux/A
//	stdsigs merge OUT REL/GOARCH=FILE...  the tables in one, zlib-compressed
//	stdsigs unpack FILE                   a merged table as text
//
// A release's table for linux/GOARCH comes from type-checking the toolchain's own GOROOT/src
// (go/types over the "source" importer, nothing downloaded) for that target without cgo. It
// is sorted, one line each:
//
//	F NAME(PARAMS) RESULTS        a function, under the name pclntab gives it (os.OpenFile)
//	M NAME(RECV, PARAMS) RESULTS  a method (os.(*File).Write), its receiver first
//	T PATH.NAME UNDERLYING        a named type used by value in a signature, and what it is
//	A PATH.NAME PATH.NAME         an alias of a package, and the type it stands for
//
// in gosyms' signature syntax (resolver/src/signature.rs): every named type by its package path
// (io/fs.FileMode, *net/http.Request), aliases resolved (os.FileMode is io/fs.FileMode),
// parameters and results named as in the source. When the source names none of a list, none
// is named; when it names some, the others are written `_` (gosyms names both ~p0, ~r0 by
// position). A variadic parameter is `...T`. Func types are written without names.
//
// Left out: generic functions and methods of generic types (pclntab names their shape
// instantiations, whose layout depends on the shapes), init functions, closures, and methods of
// interfaces. Unexported functions and methods are in: tracing internal functions is common.
//
// The merged table starts with three lines, a title, `releases R0 R1 ...` (oldest first) and
// `arches A0 A1 ...`, then has one line `KIND MASK TEXT` per distinct line of the tables, MASK
// in hex with bit i*len(arches)+j set when the table of release Ri for Aj has that line.
//
// It compiles with every Go release gosyms tests (1.15 and later): no generics, and the go/types
// API of later releases (type parameters, aliases) only through reflection.
package main

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io/ioutil"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

func main() {
	switch {
	case len(os.Args) >= 3 && os.Args[1] == "merge":
		merge(os.Args[2], os.Args[3:])
	case len(os.Args) == 3 && os.Args[1] == "unpack":
		unpack(os.Args[2])
	case len(os.Args) == 2 && os.Args[1] != "merge" && os.Args[1] != "unpack":
		generate(os.Args[1])
	default:
		fatal("usage: stdsigs [GOARCH | merge OUT REL/GOARCH=FILE... | unpack FILE]")
	}
}

// title is the first line of a merged table.
const title = "gosyms std signatures 2: linux, CGO_ENABLED=0 (testdata/stdsigs/gen.sh)"

// merge writes the tables of releases and architectures (REL/GOARCH=FILE, releases oldest
// first) as one, compressed.
func merge(out string, tables []string) {
	var releases, arches []string
	index := func(list *[]string, v string) int {
		for i, x := range *list {
			if x == v {
				return i
			}
		}
		*list = append(*list, v)
		return len(*list) - 1
	}
	type table struct {
		release, arch int
		file          string
	}
	var parsed []table
	for _, arg := range tables {
		eq := strings.Index(arg, "=")
		slash := strings.Index(arg, "/")
		if eq < 0 || slash < 0 || slash > eq {
			fatal("expected REL/GOARCH=FILE, got " + arg)
		}
		parsed = append(parsed, table{index(&releases, arg[:slash]), index(&arches, arg[slash+1:eq]), arg[eq+1:]})
	}
	if len(parsed) != len(releases)*len(arches) {
		fatal("every release needs a table for every architecture")
	}
	masks := map[string]*big.Int{}
	for _, t := range parsed {
		data, err := ioutil.ReadFile(t.file)
		if err != nil {
			fatal(err.Error())
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if len(l) < 3 || l[1] != ' ' {
				fatal(fmt.Sprintf("%s: malformed line %q", t.file, l))
			}
			if masks[l] == nil {
				masks[l] = new(big.Int)
			}
			masks[l].SetBit(masks[l], t.release*len(arches)+t.arch, 1)
		}
	}
	lines := make([]string, 0, len(masks))
	for l := range masks {
		lines = append(lines, l)
	}
	// By text, then kind: a name's lines stay together.
	sort.Slice(lines, func(i, j int) bool {
		a, b := lines[i], lines[j]
		if a[2:] != b[2:] {
			return a[2:] < b[2:]
		}
		return a < b
	})
	var text bytes.Buffer
	fmt.Fprintf(&text, "%s\nreleases %s\narches %s\n", title, strings.Join(releases, " "), strings.Join(arches, " "))
	for _, l := range lines {
		fmt.Fprintf(&text, "%s %s %s\n", l[:1], masks[l].Text(16), l[2:])
	}
	var z bytes.Buffer
	w, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		fatal(err.Error())
	}
	w.Write(text.Bytes())
	if err := w.Close(); err != nil {
		fatal(err.Error())
	}
	if err := ioutil.WriteFile(out, z.Bytes(), 0644); err != nil {
		fatal(err.Error())
	}
	fmt.Fprintf(os.Stderr, "stdsigs: %s: %d lines, %d bytes (%d uncompressed)\n", out, len(lines), z.Len(), text.Len())
}

// unpack prints a merged table.
func unpack(path string) {
	f, err := os.Open(path)
	if err != nil {
		fatal(err.Error())
	}
	r, err := zlib.NewReader(f)
	if err != nil {
		fatal(path + ": " + err.Error())
	}
	data, err := ioutil.ReadAll(r)
	if err != nil {
		fatal(path + ": " + err.Error())
	}
	os.Stdout.Write(data)
}

// generate prints the table of the running toolchain's release for linux/goarch.
func generate(goarch string) {
	ctxt := &build.Default
	// build.Default takes the build tags of the toolchain's experiments (regabiargs...) from
	// the GOARCH of the environment: it must be the target's.
	if ctxt.GOARCH != goarch {
		fatal("run with GOARCH=" + goarch + " in the environment")
	}
	ctxt.GOOS = "linux"
	ctxt.CgoEnabled = false
	src := filepath.Join(ctxt.GOROOT, "src")
	fset := token.NewFileSet()
	// The source importer type-checks from GOROOT/src with build.Default, without function
	// bodies.
	imp, ok := importer.ForCompiler(fset, "source", nil).(types.ImporterFrom)
	if !ok {
		fatal("the source importer cannot import from a directory")
	}
	g := &generator{
		funcs: map[string]string{},
		out:   map[string]bool{},
		need:  map[*types.Named]bool{},
	}
	failed := 0
	var pushes []push
	for _, path := range packages(ctxt, src) {
		pkg, err := imp.ImportFrom(path, src, 0)
		if err != nil || pkg == nil {
			fmt.Fprintf(os.Stderr, "stdsigs: %s: %v\n", path, err)
			failed++
			continue
		}
		g.pkg(pkg)
		pushes = append(pushes, linknames(ctxt, fset, src, pkg)...)
	}
	// A function with a body pushed to another name by //go:linkname is that name in
	// pclntab, with its own types (the target's declaration, if any, has no body).
	for _, p := range pushes {
		f, ok := p.pkg.Scope().Lookup(p.local).(*types.Func)
		if !ok {
			continue
		}
		delete(g.funcs, pathToPrefix(p.pkg.Path())+"."+p.local)
		g.function(p.pkg, f, nil, p.target)
	}
	g.types()
	lines := make([]string, 0, len(g.out)+len(g.funcs))
	for l := range g.out {
		lines = append(lines, l)
	}
	for _, l := range g.funcs {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	w := bufio.NewWriter(os.Stdout)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		fatal(err.Error())
	}
	fmt.Fprintf(os.Stderr, "stdsigs: %s linux/%s: %d lines, %d functions skipped, %d packages failed\n",
		ctxt.GOROOT, goarch, len(lines), g.skipped, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "stdsigs:", msg)
	os.Exit(1)
}

// packages lists the import paths of the standard library's packages (vendored ones as
// vendor/golang.org/x/...), without commands, cmd/ and test data.
func packages(ctxt *build.Context, src string) []string {
	var out []string
	err := filepath.Walk(src, func(dir string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			return nil
		}
		name := info.Name()
		rel, _ := filepath.Rel(src, dir)
		rel = filepath.ToSlash(rel)
		if dir != src && (name == "testdata" || name == "cmd" && rel == "cmd" ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if rel == "." || rel == "builtin" {
			return nil
		}
		p, err := ctxt.ImportDir(dir, 0)
		if err != nil || p.Name == "main" || p.Name == "documentation" {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		fatal(err.Error())
	}
	return out
}

type generator struct {
	// funcs holds the line of each function and method, by its name in pclntab.
	funcs map[string]string
	// out holds the other lines.
	out     map[string]bool
	need    map[*types.Named]bool
	skipped int
}

// push is a //go:linkname that gives a function with a body another name: pkg.local is target.
type push struct {
	pkg           *types.Package
	local, target string
}

// linknames lists pkg's pushes: `//go:linkname local target` where pkg's function local has a
// body (a function without one takes the name of code elsewhere, or is assembly).
func linknames(ctxt *build.Context, fset *token.FileSet, src string, pkg *types.Package) []push {
	bp, err := ctxt.Import(pkg.Path(), src, 0)
	if err != nil {
		fatal(err.Error())
	}
	var out []push
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(bp.Dir, name), nil, parser.ParseComments)
		if err != nil {
			fatal(err.Error())
		}
		bodies := map[string]bool{}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Body != nil {
				bodies[fd.Name.Name] = true
			}
		}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				fields := strings.Fields(c.Text)
				if len(fields) == 3 && fields[0] == "//go:linkname" && bodies[fields[1]] {
					out = append(out, push{pkg, fields[1], fields[2]})
				}
			}
		}
	}
	return out
}

// unsupported is a type gosyms' tables do not write (a type parameter, a union).
type unsupported struct{ t types.Type }

func (u unsupported) Error() string { return fmt.Sprintf("unsupported type %T", u.t) }

func (g *generator) pkg(pkg *types.Package) {
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		switch obj := scope.Lookup(name).(type) {
		case *types.Func:
			if name == "init" || name == "_" {
				continue
			}
			g.function(pkg, obj, nil, "")
		case *types.TypeName:
			named, ok := unalias(obj.Type()).(*types.Named)
			if obj.IsAlias() {
				if ok && named.Obj().Pkg() != nil && !strings.Contains(named.Obj().Name(), "[") {
					g.out[fmt.Sprintf("A %s.%s %s", pkg.Path(), name, qualified(named))] = true
				}
				continue
			}
			if !ok || typeParams(named) > 0 {
				continue
			}
			if _, iface := named.Underlying().(*types.Interface); iface {
				continue
			}
			for i := 0; i < named.NumMethods(); i++ {
				g.function(pkg, named.Method(i), named, "")
			}
		}
	}
}

// function writes the line of f, a function or a method of recv, under its name in pclntab
// (symbol, when a //go:linkname gives it another).
func (g *generator) function(pkg *types.Package, f *types.Func, recv *types.Named, symbol string) {
	sig, ok := f.Type().(*types.Signature)
	if !ok || typeParams(sig) > 0 {
		return
	}
	name, line, err := g.signature(pkg, f, sig, recv, symbol)
	if err != nil {
		g.skipped++
		return
	}
	g.funcs[name] = line
}

// signature writes f's line, and gives its name.
func (g *generator) signature(pkg *types.Package, f *types.Func, sig *types.Signature, recv *types.Named, symbol string) (string, string, error) {
	var b strings.Builder
	name := pathToPrefix(pkg.Path()) + "."
	var inputs []*types.Var
	if recv != nil {
		r := sig.Recv()
		if _, ptr := r.Type().(*types.Pointer); ptr {
			name += "(*" + recv.Obj().Name() + ")."
		} else {
			name += recv.Obj().Name() + "."
		}
		inputs = append(inputs, r)
	}
	name += f.Name()
	if symbol != "" {
		name = symbol
	}
	for i := 0; i < sig.Params().Len(); i++ {
		inputs = append(inputs, sig.Params().At(i))
	}
	kind := "F "
	if recv != nil {
		kind = "M "
	}
	params, err := g.tuple(inputs, sig.Variadic())
	if err != nil {
		return "", "", err
	}
	b.WriteString(kind + name + "(" + params + ")")
	var outputs []*types.Var
	for i := 0; i < sig.Results().Len(); i++ {
		outputs = append(outputs, sig.Results().At(i))
	}
	results, err := g.tuple(outputs, false)
	if err != nil {
		return "", "", err
	}
	switch {
	case len(outputs) == 0:
	case len(outputs) == 1 && outputs[0].Name() == "":
		b.WriteString(" " + results)
	default:
		b.WriteString(" (" + results + ")")
	}
	return name, b.String(), nil
}

// tuple writes parameters or results, `name T, ...` with the names of the source, when one
// of them has a name (then `_` for unnamed and blank ones), else the types alone.
func (g *generator) tuple(vars []*types.Var, variadic bool) (string, error) {
	named := false
	for _, v := range vars {
		named = named || v.Name() != ""
	}
	parts := make([]string, 0, len(vars))
	for i, v := range vars {
		var ty string
		var err error
		if variadic && i == len(vars)-1 {
			s, ok := v.Type().(*types.Slice)
			if !ok {
				return "", fmt.Errorf("variadic %s is not a slice", v.Type())
			}
			ty, err = g.typ(s.Elem(), false)
			ty = "..." + ty
		} else {
			ty, err = g.typ(v.Type(), true)
		}
		if err != nil {
			return "", err
		}
		switch {
		case !named:
		case v.Name() == "":
			ty = "_ " + ty
		default:
			ty = v.Name() + " " + ty
		}
		parts = append(parts, ty)
	}
	return strings.Join(parts, ", "), nil
}

// unnamed lists a tuple's variables without their names (those of a func type).
func unnamed(t *types.Tuple) []*types.Var {
	out := make([]*types.Var, 0, t.Len())
	for i := 0; i < t.Len(); i++ {
		v := t.At(i)
		out = append(out, types.NewParam(v.Pos(), v.Pkg(), "", v.Type()))
	}
	return out
}

// typ writes t with every named type by its package path. byValue: the value itself is
// passed (not behind a pointer, slice, map, channel or func), so its named types' underlying
// types go into the table too; so do those of an array's elements and a struct's fields even
// behind a pointer, as gosyms needs them to lay out the array or struct.
func (g *generator) typ(t types.Type, byValue bool) (string, error) {
	t = unalias(t)
	switch t := t.(type) {
	case *types.Basic:
		switch {
		case t.Kind() == types.UnsafePointer:
			return "unsafe.Pointer", nil
		case t.Info()&types.IsUntyped != 0 || t.Kind() == types.Invalid:
			return "", unsupported{t}
		}
		return t.Name(), nil
	case *types.Named:
		if t.Obj().Pkg() == nil {
			return t.Obj().Name(), nil // error
		}
		if typeParams(t) > 0 || typeArgs(t) > 0 {
			// A generic type's instantiation: named as reflect names it, and never laid
			// out from this table.
			if hasTypeParam(t) {
				return "", unsupported{t}
			}
			return types.TypeString(t, pathOf), nil
		}
		if byValue {
			g.need[t] = true
		}
		return qualified(t), nil
	case *types.Pointer:
		e, err := g.typ(t.Elem(), false)
		return "*" + e, err
	case *types.Slice:
		e, err := g.typ(t.Elem(), false)
		return "[]" + e, err
	case *types.Array:
		e, err := g.typ(t.Elem(), true)
		return fmt.Sprintf("[%d]%s", t.Len(), e), err
	case *types.Map:
		k, err := g.typ(t.Key(), false)
		if err != nil {
			return "", err
		}
		v, err := g.typ(t.Elem(), false)
		return "map[" + k + "]" + v, err
	case *types.Chan:
		e, err := g.typ(t.Elem(), false)
		if c, ok := unalias(t.Elem()).(*types.Chan); ok && c.Dir() == types.RecvOnly {
			e = "(" + e + ")"
		}
		switch t.Dir() {
		case types.SendOnly:
			return "chan<- " + e, err
		case types.RecvOnly:
			return "<-chan " + e, err
		}
		return "chan " + e, err
	case *types.Signature:
		if typeParams(t) > 0 {
			return "", unsupported{t}
		}
		p, err := g.tuple(unnamed(t.Params()), t.Variadic())
		if err != nil {
			return "", err
		}
		r, err := g.tuple(unnamed(t.Results()), false)
		if err != nil {
			return "", err
		}
		switch t.Results().Len() {
		case 0:
			return "func(" + p + ")", nil
		case 1:
			return "func(" + p + ") " + r, nil
		}
		return "func(" + p + ") (" + r + ")", nil
	case *types.Struct:
		if t.NumFields() == 0 {
			return "struct {}", nil
		}
		fields := make([]string, 0, t.NumFields())
		for i := 0; i < t.NumFields(); i++ {
			f := t.Field(i)
			ft, err := g.typ(f.Type(), true)
			if err != nil {
				return "", err
			}
			fields = append(fields, f.Name()+" "+ft)
		}
		return "struct { " + strings.Join(fields, "; ") + " }", nil
	case *types.Interface:
		if t.NumMethods() == 0 && t.NumEmbeddeds() == 0 {
			return "any", nil
		}
		if hasTypeParam(t) {
			return "", unsupported{t}
		}
		return types.TypeString(t, pathOf), nil
	}
	return "", unsupported{t}
}

// types writes the underlying type of every named type used by value, and of the named types
// those use by value in turn.
func (g *generator) types() {
	done := map[*types.Named]bool{}
	for len(g.need) > 0 {
		var next []*types.Named
		for t := range g.need {
			if !done[t] {
				next = append(next, t)
			}
		}
		g.need = map[*types.Named]bool{}
		for _, t := range next {
			done[t] = true
			u, err := g.typ(t.Underlying(), true)
			if err != nil {
				continue
			}
			g.out[fmt.Sprintf("T %s %s", qualified(t), u)] = true
		}
	}
}

// qualified is PATH.NAME.
func qualified(t *types.Named) string {
	return t.Obj().Pkg().Path() + "." + t.Obj().Name()
}

func pathOf(p *types.Package) string { return p.Path() }

// pathToPrefix escapes a package path as symbol names do (cmd/internal/objabi.PathToPrefix):
// control characters, space, '%', '"', DEL and above, and '.' in the last element, as %xx.
func pathToPrefix(s string) string {
	slash := strings.LastIndex(s, "/")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || (c == '.' && i > slash) || c == '%' || c == '"' || c >= 0x7F {
			fmt.Fprintf(&b, "%%%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unalias follows aliases (types.Alias, Go 1.22+, through its Rhs method of 1.23+; earlier
// releases resolve aliases themselves).
func unalias(t types.Type) types.Type {
	for i := 0; i < 100; i++ {
		a, ok := t.(interface{ Rhs() types.Type })
		if !ok {
			return t
		}
		t = a.Rhs()
	}
	return t
}

// typeParams is the number of type parameters of a named type or signature (0 before Go
// 1.18).
func typeParams(x interface{}) int {
	return listLen(x, "TypeParams") + listLen(x, "RecvTypeParams")
}

// typeArgs is the number of type arguments of an instantiated named type (0 before Go 1.18).
func typeArgs(x interface{}) int { return listLen(x, "TypeArgs") }

// listLen calls x.method().Len() when x has that method (a *TypeParamList or *TypeList).
func listLen(x interface{}, method string) int {
	m := reflect.ValueOf(x).MethodByName(method)
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
		return 0
	}
	l := m.Call(nil)[0]
	if l.IsNil() {
		return 0
	}
	n := l.MethodByName("Len")
	if !n.IsValid() {
		return 0
	}
	return int(n.Call(nil)[0].Int())
}

// hasTypeParam reports whether t's written form involves a type parameter (the type-checker's
// string of it names one with its constraint or a type parameter type).
func hasTypeParam(t types.Type) bool {
	found := false
	var walk func(types.Type, int)
	walk = func(t types.Type, depth int) {
		if found || depth > 20 {
			return
		}
		if strings.HasSuffix(fmt.Sprintf("%T", t), ".TypeParam") {
			found = true
			return
		}
		v := reflect.ValueOf(t).MethodByName("TypeArgs")
		if v.IsValid() {
			l := v.Call(nil)[0]
			if !l.IsNil() {
				n := int(l.MethodByName("Len").Call(nil)[0].Int())
				for i := 0; i < n; i++ {
					a := l.MethodByName("At").Call([]reflect.Value{reflect.ValueOf(i)})[0]
					if at, ok := a.Interface().(types.Type); ok {
						walk(at, depth+1)
					}
				}
			}
		}
		switch t := t.(type) {
		case *types.Pointer:
			walk(t.Elem(), depth+1)
		case *types.Slice:
			walk(t.Elem(), depth+1)
		case *types.Array:
			walk(t.Elem(), depth+1)
		case *types.Map:
			walk(t.Key(), depth+1)
			walk(t.Elem(), depth+1)
		case *types.Chan:
			walk(t.Elem(), depth+1)
		case *types.Signature:
			for _, tu := range []*types.Tuple{t.Params(), t.Results()} {
				for i := 0; i < tu.Len(); i++ {
					walk(tu.At(i).Type(), depth+1)
				}
			}
		case *types.Struct:
			for i := 0; i < t.NumFields(); i++ {
				walk(t.Field(i).Type(), depth+1)
			}
		case *types.Interface:
			for i := 0; i < t.NumMethods(); i++ {
				walk(t.Method(i).Type(), depth+1)
			}
		}
	}
	walk(t, 0)
	return found
}
