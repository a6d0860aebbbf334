// Command codestats prints the figures used to judge the code's shape: non-test
// lines and exported identifiers per package, and the longest functions.
//
//	go run ./internal/devtools/codestats [-top 10] [dir]
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type fn struct {
	name  string
	lines int
}

type pkgStats struct {
	lines    int
	exported int
}

func main() {
	top := flag.Int("top", 10, "how many of the longest functions to list")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	pkgs, fns, err := scan(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "codestats:", err)
		os.Exit(1)
	}
	print(pkgs, fns, *top)
}

func scan(root string) (map[string]*pkgStats, []fn, error) {
	pkgs := map[string]*pkgStats{}
	var fns []fn
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		ps := pkgs[dir]
		if ps == nil {
			ps = &pkgStats{}
			pkgs[dir] = ps
		}
		ps.lines += fset.File(f.Pos()).LineCount()
		for _, decl := range f.Decls {
			ps.exported += countExported(decl)
			if fd, ok := decl.(*ast.FuncDecl); ok && fd.Body != nil {
				n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
				fns = append(fns, fn{name: fmt.Sprintf("%s.%s", dir, funcName(fd)), lines: n})
			}
		}
		return nil
	})
	return pkgs, fns, err
}

func countExported(decl ast.Decl) int {
	n := 0
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if d.Name.IsExported() && (d.Recv == nil || recvExported(d.Recv)) {
			n++
		}
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				if s.Name.IsExported() {
					n++
				}
			case *ast.ValueSpec:
				for _, id := range s.Names {
					if id.IsExported() {
						n++
					}
				}
			}
		}
	}
	return n
}

func recvExported(fl *ast.FieldList) bool {
	t := fl.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if g, ok := t.(*ast.IndexExpr); ok {
		t = g.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if g, ok := t.(*ast.IndexExpr); ok {
		t = g.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

func print(pkgs map[string]*pkgStats, fns []fn, top int) {
	dirs := make([]string, 0, len(pkgs))
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	fmt.Printf("%-40s %7s %9s\n", "package", "lines", "exported")
	total := pkgStats{}
	for _, d := range dirs {
		fmt.Printf("%-40s %7d %9d\n", d, pkgs[d].lines, pkgs[d].exported)
		total.lines += pkgs[d].lines
		total.exported += pkgs[d].exported
	}
	fmt.Printf("%-40s %7d %9d\n\n", "total", total.lines, total.exported)
	sort.Slice(fns, func(i, j int) bool { return fns[i].lines > fns[j].lines })
	fmt.Printf("longest functions:\n")
	for i := 0; i < top && i < len(fns); i++ {
		fmt.Printf("%5d  %s\n", fns[i].lines, fns[i].name)
	}
}
