package doccheck

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/centralmsp/centralmsp/internal/cli"
)

// cliSpec is what the command line says about itself: its subcommands and,
// for each, its flags (true for boolean flags, which take no value).
type cliSpec struct {
	subs map[string]map[string]bool
}

var (
	subcommandRE = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s`)
	flagLineRE   = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_.-]*)(.*)$`)
)

// loadCLISpec runs "centralmsp -h" and "centralmsp <sub> -h" in-process and
// reads the subcommands and flags from what they print.
func loadCLISpec() (*cliSpec, error) {
	top, _, err := runHelp(nil)
	if err != nil {
		return nil, err
	}
	s := &cliSpec{subs: map[string]map[string]bool{}}
	inCommands := false
	for l := range strings.SplitSeq(top, "\n") {
		switch {
		case l == "commands:":
			inCommands = true
		case inCommands && l == "":
			inCommands = false
		case inCommands:
			if m := subcommandRE.FindStringSubmatch(l); m != nil {
				s.subs[m[1]] = nil
			}
		}
	}
	if len(s.subs) == 0 {
		return nil, fmt.Errorf("centralmsp -h lists no commands:\n%s", top)
	}
	for sub := range s.subs {
		out, errOut, err := runHelp([]string{sub})
		if err != nil {
			return nil, err
		}
		flags := map[string]bool{}
		for l := range strings.SplitSeq(out+"\n"+errOut, "\n") {
			if m := flagLineRE.FindStringSubmatch(l); m != nil {
				flags[m[1]] = strings.TrimSpace(m[2]) == ""
			}
		}
		s.subs[sub] = flags
	}
	return s, nil
}

func runHelp(sub []string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Logger: slog.New(slog.DiscardHandler)}
	args := append(append([]string(nil), sub...), "-h")
	if code := cli.Main(context.Background(), env, args); code != 0 {
		return "", "", fmt.Errorf("centralmsp %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String(), errb.String(), nil
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// cliToken is one parsed argument of a centralmsp command.
type cliToken struct {
	flag     string // flag name without dashes; empty for a positional argument
	value    string
	hasValue bool
}

// parse checks a centralmsp argument list (after the program name) against
// the spec: the subcommand must exist, and so must every flag. It returns
// the subcommand and the arguments as tokens.
func (s *cliSpec) parse(args []string) (string, []cliToken, []string) {
	if len(args) == 0 {
		return "", nil, []string{"centralmsp without a subcommand prints the usage and exits 2"}
	}
	if isHelp(args[0]) {
		return args[0], nil, nil
	}
	sub := args[0]
	flags, ok := s.subs[sub]
	if !ok {
		return sub, nil, []string{fmt.Sprintf("unknown subcommand %q (centralmsp -h lists %s)", sub, strings.Join(s.names(), ", "))}
	}
	var toks []cliToken
	var problems []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			for _, p := range rest[i+1:] {
				toks = append(toks, cliToken{value: p})
			}
			break
		}
		if len(a) < 2 || a[0] != '-' {
			toks = append(toks, cliToken{value: a})
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasValue := strings.Cut(name, "=")
		if isHelp("-" + name) {
			toks = append(toks, cliToken{flag: "h"})
			continue
		}
		isBool, known := flags[name]
		if !known {
			problems = append(problems, fmt.Sprintf("centralmsp %s has no flag --%s (its flags: %s)", sub, name, flagList(flags)))
			continue
		}
		if !isBool && !hasValue {
			if i+1 >= len(rest) {
				problems = append(problems, fmt.Sprintf("centralmsp %s --%s needs a value", sub, name))
				continue
			}
			i++
			value, hasValue = rest[i], true
		}
		toks = append(toks, cliToken{flag: name, value: value, hasValue: hasValue})
	}
	return sub, toks, problems
}

func (s *cliSpec) names() []string {
	var n []string
	for k := range s.subs {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func flagList(flags map[string]bool) string {
	var n []string
	for k := range flags {
		n = append(n, "--"+k)
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

var (
	synopsisFlagRE = regexp.MustCompile(`(?:^|[\s\[(|,])--?([a-z][a-z0-9-]*)`)
	wordRE         = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// checkSynopsis checks a usage line such as
// "centralmsp collect --out DIR [--tenants id,name]": the subcommand and
// every flag it names must exist. Lines whose second word is not a plain
// word (output such as "centralmsp sim: ...") are not usage lines.
func (s *cliSpec) checkSynopsis(line string) []string {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "centralmsp" {
		return nil
	}
	if isHelp(f[1]) {
		return nil
	}
	if !wordRE.MatchString(f[1]) {
		return nil
	}
	flags, ok := s.subs[f[1]]
	if !ok {
		return []string{fmt.Sprintf("unknown subcommand %q in %q", f[1], line)}
	}
	var problems []string
	rest := strings.Join(f[2:], " ")
	for _, m := range synopsisFlagRE.FindAllStringSubmatch(rest, -1) {
		if isHelp("-" + m[1]) {
			continue
		}
		if _, ok := flags[m[1]]; !ok {
			problems = append(problems, fmt.Sprintf("centralmsp %s has no flag --%s (its flags: %s)", f[1], m[1], flagList(flags)))
		}
	}
	return problems
}

// makeTargets answers whether a make target exists, by asking make itself
// (make -n) and, without make, by reading the Makefile's rules.
type makeTargets struct {
	root  string
	mu    sync.Mutex
	known map[string]error
}

var makeRuleRE = regexp.MustCompile(`(?m)^([A-Za-z0-9_.%/ -]+?)\s*::?(?:[^=]|$)`)

func (m *makeTargets) check(target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err, ok := m.known[target]; ok {
		return err
	}
	var err error
	if bin, lookErr := exec.LookPath("make"); lookErr == nil {
		cmd := exec.Command(bin, "--no-print-directory", "-n", "-C", m.root, target)
		cmd.Env = withoutMakeVars(os.Environ())
		if out, runErr := cmd.CombinedOutput(); runErr != nil {
			err = fmt.Errorf("make -n %s: %v: %s", target, runErr, bytes.TrimSpace(out))
		}
	} else {
		err = fmt.Errorf("the Makefile has no rule for %q", target)
		mk, readErr := os.ReadFile(filepath.Join(m.root, "Makefile"))
		if readErr != nil {
			return readErr
		}
		for _, r := range makeRuleRE.FindAllStringSubmatch(string(mk), -1) {
			for t := range strings.FieldsSeq(r[1]) {
				if t == target {
					err = nil
				}
			}
		}
	}
	if m.known == nil {
		m.known = map[string]error{}
	}
	m.known[target] = err
	return err
}

// withoutMakeVars drops the variables a calling make exports, so that the
// dry run does not join its job server.
func withoutMakeVars(env []string) []string {
	var out []string
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if k == "MAKEFLAGS" || k == "MFLAGS" || k == "MAKELEVEL" || k == "MAKEOVERRIDES" {
			continue
		}
		out = append(out, e)
	}
	return out
}

// checkMake checks a make command line: every target must exist.
func (m *makeTargets) checkMake(argv []string) []string {
	var problems []string
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-C" || a == "-f" || a == "-j":
			i++
		case strings.HasPrefix(a, "-") || strings.Contains(a, "=") || strings.ContainsAny(a, "<$"):
		default:
			if err := m.check(a); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	return problems
}

// goTestValueFlags and goTestBoolFlags are the go test flags docs may use.
var (
	goTestValueFlags = map[string]bool{"run": true, "bench": true, "benchtime": true, "count": true, "timeout": true,
		"cpu": true, "fuzz": true, "fuzztime": true, "parallel": true, "tags": true, "skip": true, "coverprofile": true,
		"cpuprofile": true, "memprofile": true, "o": true, "shuffle": true, "list": true}
	goTestBoolFlags = map[string]bool{"v": true, "race": true, "benchmem": true, "short": true, "json": true,
		"cover": true, "failfast": true}
)

// checkGoTest checks a go test command line: its flags, that its packages
// exist, and that -run, -bench and -fuzz select something in them.
func checkGoTest(root string, argv []string) []string {
	var problems []string
	sel := map[string]string{}
	var pkgs []string
	for i := 2; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") {
			pkgs = append(pkgs, a)
			continue
		}
		name, value, has := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case goTestBoolFlags[name]:
		case goTestValueFlags[name]:
			if !has {
				if i+1 >= len(argv) {
					problems = append(problems, fmt.Sprintf("go test -%s needs a value", name))
					continue
				}
				i++
				value = argv[i]
			}
			if name == "run" || name == "bench" || name == "fuzz" {
				sel[name] = value
			}
		default:
			problems = append(problems, fmt.Sprintf("go test flag -%s is not one the docs may use", name))
		}
	}
	var funcs []string
	for _, p := range pkgs {
		if strings.Contains(p, "$") {
			return problems
		}
		dir := filepath.Join(root, strings.TrimSuffix(strings.TrimSuffix(p, "..."), "/"))
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			problems = append(problems, fmt.Sprintf("go test: package %s does not exist", p))
			continue
		}
		if strings.HasSuffix(p, "...") {
			return problems // selections over many packages are not checked
		}
		fs, err := testFuncs(dir)
		if err != nil {
			problems = append(problems, fmt.Sprintf("go test %s: %v", p, err))
		}
		funcs = append(funcs, fs...)
	}
	if len(pkgs) == 0 {
		return problems
	}
	match := func(flag, expr string, prefixes ...string) int {
		top, _, _ := strings.Cut(expr, "/")
		re, err := regexp.Compile(top)
		if err != nil {
			problems = append(problems, fmt.Sprintf("go test -%s %q: %v", flag, expr, err))
			return -1
		}
		n := 0
		for _, f := range funcs {
			for _, p := range prefixes {
				if strings.HasPrefix(f, p) && re.MatchString(f) {
					n++
				}
			}
		}
		return n
	}
	if e, ok := sel["run"]; ok && e != "^$" && match("run", e, "Test", "Example", "Fuzz") == 0 {
		problems = append(problems, fmt.Sprintf("go test -run %q selects no test in %s", e, strings.Join(pkgs, " ")))
	}
	if e, ok := sel["bench"]; ok && match("bench", e, "Benchmark") == 0 {
		problems = append(problems, fmt.Sprintf("go test -bench %q selects no benchmark in %s", e, strings.Join(pkgs, " ")))
	}
	if e, ok := sel["fuzz"]; ok {
		if n := match("fuzz", e, "Fuzz"); n != 1 {
			problems = append(problems, fmt.Sprintf("go test -fuzz %q selects %d fuzz targets in %s, want exactly 1", e, n, strings.Join(pkgs, " ")))
		}
	}
	return problems
}

// testFuncs lists the top-level Test, Benchmark, Fuzz and Example
// functions of a directory's test files.
func testFuncs(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no test files in %s", dir)
	}
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				names = append(names, fd.Name.Name)
			}
		}
	}
	return names, nil
}

// repoPathRE matches arguments that name files of this repository.
var repoPathRE = regexp.MustCompile(`^(\./)?(events|deploy|docs|pkg|internal|cmd|functions)/|^(\./)?(template\.yaml|Makefile)$`)

// checkRepoPaths checks that arguments naming this repository's files
// exist (globs must match something).
func checkRepoPaths(root string, argv []string) []string {
	var problems []string
	for _, a := range argv {
		if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "-") {
			a = v
		}
		if !repoPathRE.MatchString(a) || strings.ContainsAny(a, "$<") {
			continue
		}
		p := strings.TrimSuffix(strings.TrimSuffix(a, "..."), "/")
		m, _ := filepath.Glob(filepath.Join(root, p))
		if len(m) == 0 {
			problems = append(problems, fmt.Sprintf("%s does not exist in this repository", a))
		}
	}
	return problems
}
