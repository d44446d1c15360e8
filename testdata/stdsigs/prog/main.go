// Program prog calls standard-library functions with known arguments and prints each call as a
// JSON line, {"fn", "args", "ret"}: the truth for gosyms' table of standard-library signatures
// (tests/tests/stdsigs.rs traces it stripped, with no signature).
//
// Its argument is a directory to create files in.
package main

import (
	"encoding/json"
	"os"
	"path/filepath"
)

func emit(fn string, args, ret map[string]interface{}) {
	b, err := json.Marshal(map[string]interface{}{"fn": fn, "args": args, "ret": ret})
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(b, '\n'))
}

func openFile(name string, flag int, perm os.FileMode) {
	f, err := os.OpenFile(name, flag, perm)
	ret := map[string]interface{}{"ok": f != nil, "err": err != nil}
	if err != nil {
		ret["error"] = err.Error()
	}
	emit("os.OpenFile", map[string]interface{}{"name": name, "flag": flag, "perm": uint32(perm)}, ret)
	if f != nil {
		f.Close()
	}
}

func main() {
	if len(os.Args) != 2 {
		os.Stderr.WriteString("usage: prog DIR\n")
		os.Exit(2)
	}
	dir := os.Args[1]
	openFile(filepath.Join(dir, "created"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0640)
	openFile(filepath.Join(dir, "created"), os.O_RDONLY, 0)
	openFile(filepath.Join(dir, "missing", "x"), os.O_WRONLY|os.O_APPEND, os.ModePerm)
}
