package doccheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/bench"
	"github.com/centralmsp/centralmsp/internal/cli"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// TestMain lets this test binary serve as the simulator and collector child
// processes that `centralmsp bench` starts (it re-executes itself).
func TestMain(m *testing.M) {
	if ok, err := bench.Child(context.Background(), os.Getenv, os.Stdout); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// docTenantNames are the tenant names the docs' examples use; the test
// simulator gives its first tenants these names.
var docTenantNames = []string{"The Wandwright Academy", "Contoso Retail"}

// repoRoot is the module root (two levels above this package).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return root
}

// docFiles are README.md and docs/*.md, relative to the root.
func docFiles(t testing.TB, root string) []string {
	t.Helper()
	files := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range more {
		rel, _ := filepath.Rel(root, f)
		files = append(files, filepath.ToSlash(rel))
	}
	return files
}

type parsedDoc struct {
	file   string
	src    string
	blocks []codeBlock
	spans  []codeSpan
	links  []mdLink
}

func parseDocs(t testing.TB, root string) []parsedDoc {
	t.Helper()
	var docs []parsedDoc
	for _, f := range docFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		blocks, spans, links := parseMarkdown(f, string(b))
		docs = append(docs, parsedDoc{file: f, src: string(b), blocks: blocks, spans: spans, links: links})
	}
	return docs
}

// docCommand is one command of a shell block.
type docCommand struct {
	where      string
	argv       []string
	syntaxOnly bool
}

// checker holds what the checks share.
type checker struct {
	root string
	spec *cliSpec
	make *makeTargets
}

func newChecker(t testing.TB, root string) *checker {
	t.Helper()
	spec, err := loadCLISpec()
	if err != nil {
		t.Fatal(err)
	}
	return &checker{root: root, spec: spec, make: &makeTargets{root: root}}
}

// checkDoc checks one document without running anything. It returns the
// problems found and the centralmsp commands of its shell blocks.
func (c *checker) checkDoc(d parsedDoc) ([]string, []docCommand) {
	var problems []string
	var cmds []docCommand
	report := func(where string, ps []string) {
		for _, p := range ps {
			problems = append(problems, where+": "+p)
		}
	}
	for _, b := range d.blocks {
		if !shellLangs[b.lang] {
			for i, l := range b.body {
				l = strings.TrimPrefix(strings.TrimSpace(l), "$ ")
				report(fmt.Sprintf("%s:%d", b.file, b.line+1+i), c.spec.checkSynopsis(l))
			}
			continue
		}
		argvs, err := shellCommands(shellScript(b))
		if err != nil {
			report(b.where(), []string{err.Error()})
			continue
		}
		for _, argv := range argvs {
			where := fmt.Sprintf("%s (%s)", b.where(), strings.Join(argv, " "))
			report(where, checkRepoPaths(c.root, argv))
			if args, ok := cliArgs(argv); ok {
				_, _, ps := c.spec.parse(args)
				report(where, ps)
				if len(ps) == 0 {
					cmds = append(cmds, docCommand{where: where, argv: args, syntaxOnly: b.syntaxOnly})
				}
				continue
			}
			report(where, c.checkOther(argv))
		}
	}
	for _, s := range d.spans {
		where := fmt.Sprintf("%s:%d (`%s`)", s.file, s.line, s.text)
		if placeholderRE.MatchString(s.text) {
			continue // a pattern such as `make build-<LogicalId>`, not a command
		}
		first, _, _ := strings.Cut(s.text, " ")
		if first != "centralmsp" && first != "make" && !strings.HasPrefix(s.text, "go test") && !strings.HasPrefix(s.text, "go run ./cmd/centralmsp") {
			continue
		}
		argvs, err := shellCommands(s.text)
		if err != nil || len(argvs) != 1 {
			continue // prose such as `centralmsp <command> -h`, not one command
		}
		argv := argvs[0]
		if args, ok := cliArgs(argv); ok {
			if len(args) == 0 || strings.ContainsAny(args[0], "<>") {
				continue
			}
			_, _, ps := c.spec.parse(args)
			for _, p := range ps {
				// Prose may name a flag without its value.
				if !strings.HasSuffix(p, "needs a value") {
					report(where, []string{p})
				}
			}
			continue
		}
		report(where, c.checkOther(argv))
	}
	return problems, cmds
}

// placeholderRE matches a <placeholder> in a code span.
var placeholderRE = regexp.MustCompile(`<[A-Za-z][^<>]*>`)

// checkOther checks the make and go commands a doc shows.
func (c *checker) checkOther(argv []string) []string {
	switch {
	case argv[0] == "make":
		return c.make.checkMake(argv)
	case len(argv) >= 2 && argv[0] == "go" && argv[1] == "test":
		return checkGoTest(c.root, argv)
	case len(argv) >= 3 && argv[0] == "go" && argv[1] == "run":
		if strings.HasPrefix(argv[2], "./") {
			if fi, err := os.Stat(filepath.Join(c.root, argv[2])); err != nil || !fi.IsDir() {
				return []string{fmt.Sprintf("go run %s: no such package directory", argv[2])}
			}
		}
	}
	return nil
}

// makefileCommands are the centralmsp commands the Makefile's recipes run
// (make demo, make bench), so they are checked and run like the docs'.
func makefileCommands(t testing.TB, c *checker) ([]string, []docCommand) {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(c.root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	var cmds []docCommand
	for i, l := range strings.Split(string(mk), "\n") {
		if !strings.HasPrefix(l, "\t") || !strings.Contains(l, "./cmd/centralmsp") {
			continue
		}
		argvs, err := shellCommands(strings.ReplaceAll(strings.TrimSpace(l), "$(GO)", "go"))
		if err != nil {
			problems = append(problems, fmt.Sprintf("Makefile:%d: %v", i+1, err))
			continue
		}
		for _, argv := range argvs {
			if args, ok := cliArgs(argv); ok {
				where := fmt.Sprintf("Makefile:%d (%s)", i+1, strings.Join(argv, " "))
				_, _, ps := c.spec.parse(args)
				for _, p := range ps {
					problems = append(problems, where+": "+p)
				}
				if len(ps) == 0 {
					cmds = append(cmds, docCommand{where: where, argv: args})
				}
			}
		}
	}
	return problems, cmds
}

// TestDocCommands checks every command of README.md and docs/*.md and runs
// the ones that need nothing but this machine.
func TestDocCommands(t *testing.T) {
	root := repoRoot(t)
	c := newChecker(t, root)
	var all []docCommand
	for _, d := range parseDocs(t, root) {
		problems, cmds := c.checkDoc(d)
		for _, p := range problems {
			t.Error(p)
		}
		all = append(all, cmds...)
	}
	problems, cmds := makefileCommands(t, c)
	for _, p := range problems {
		t.Error(p)
	}
	all = append(all, cmds...)
	if t.Failed() {
		return
	}
	if testing.Short() {
		t.Skip("-short: commands checked, not run")
	}
	r := newRunner(t, root, c.spec)
	ran := 0
	for _, dc := range all {
		args, why := r.prepare(dc)
		if why != "" {
			t.Logf("syntax only (%s): %s", why, dc.where)
			continue
		}
		ran++
		t.Run(strings.Join(args[:min(len(args), 1)], ""), func(t *testing.T) {
			r.run(t, dc.where, args)
		})
	}
	t.Logf("%d commands checked, %d of them run", len(all), ran)
}

// TestMakeTargets: the make targets the README promises exist.
func TestMakeTargets(t *testing.T) {
	c := &makeTargets{root: repoRoot(t)}
	for _, target := range []string{"demo", "test", "bench", "build"} {
		if err := c.check(target); err != nil {
			t.Error(err)
		}
	}
}

// TestDocsLinkedFromReadme: every docs page is reachable from the README,
// and relative links point to files that exist. A docs page may be linked
// before it is written; that is logged, not failed.
func TestDocsLinkedFromReadme(t *testing.T) {
	root := repoRoot(t)
	docs := parseDocs(t, root)
	linked := map[string]bool{}
	for _, d := range docs {
		for _, l := range d.links {
			target, _, _ := strings.Cut(l.target, "#")
			if target == "" {
				continue
			}
			p := filepath.ToSlash(filepath.Join(filepath.Dir(l.file), target))
			if d.file == "README.md" {
				linked[p] = true
			}
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				if strings.HasPrefix(p, "docs/") && strings.HasSuffix(p, ".md") {
					t.Logf("%s:%d: %s is not in this tree yet", l.file, l.line, p)
					continue
				}
				t.Errorf("%s:%d: link to %s: %v", l.file, l.line, l.target, err)
			}
		}
	}
	for _, d := range docs[1:] {
		if !linked[d.file] {
			t.Errorf("README.md does not link to %s", d.file)
		}
	}
}

// TestCLIReferenceComplete: docs/cli.md mentions every subcommand, and each
// of its "## `centralmsp X`" sections names every flag of X.
func TestCLIReferenceComplete(t *testing.T) {
	root := repoRoot(t)
	spec, err := loadCLISpec()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	sections := map[string]string{}
	heading := regexp.MustCompile("(?m)^## `centralmsp ([a-z-]+)`")
	idx := heading.FindAllStringSubmatchIndex(src, -1)
	for i, m := range idx {
		end := len(src)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		sections[src[m[2]:m[3]]] = src[m[0]:end]
	}
	for _, sub := range spec.names() {
		if !regexp.MustCompile("`(centralmsp )?" + regexp.QuoteMeta(sub) + "[` ]").MatchString(src) {
			t.Errorf("docs/cli.md does not mention the %s command", sub)
		}
		sec, ok := sections[sub]
		if !ok {
			continue
		}
		for f := range spec.subs[sub] {
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(f) + `([^a-z0-9-]|$)`).MatchString(sec) {
				t.Errorf("docs/cli.md section `centralmsp %s` does not document --%s", sub, f)
			}
		}
	}
	if len(sections) == 0 {
		t.Error("docs/cli.md has no \"## `centralmsp X`\" sections")
	}
}

// TestCheckerCatchesMistakes feeds the checks documents with mistakes: each
// must be reported.
func TestCheckerCatchesMistakes(t *testing.T) {
	root := repoRoot(t)
	c := newChecker(t, root)
	for _, bad := range []string{
		"```sh\ncentralmsp collect --credentials msp.yaml --out out --no-such-flag\n```\n",
		"```sh\ngo run ./cmd/centralmsp demo --tenants\n```\n",
		"```console\n$ centralmsp plan --tenants 100 \\\n    --no-such-flag 1\n```\n",
		"```sh\ncentralmsp no-such-command\n```\n",
		"```sh\nmake no-such-target\n```\n",
		"```sh\ngo test -run '^TestNoSuchTest$' ./pkg/msp/\n```\n",
		"```sh\ngo test -bench NoSuchBenchmark ./pkg/central/\n```\n",
		"```sh\nsam local invoke CollectorFunction -e events/no-such-event.json\n```\n",
		"```text\ncentralmsp bench [--tenants N] [--no-such-flag]\n```\n",
		"Run `centralmsp cost --no-such-flag 1` to see.\n",
		"| a | `go test -run 'NoSuch\\|NorThis' ./pkg/msp/` |\n",
	} {
		blocks, spans, links := parseMarkdown("bad.md", bad)
		problems, _ := c.checkDoc(parsedDoc{file: "bad.md", src: bad, blocks: blocks, spans: spans, links: links})
		if len(problems) == 0 {
			t.Errorf("no problem reported for:\n%s", bad)
		}
	}
	good := "<!-- doccheck: syntax-only -->\n```sh\n# a comment\nAWS_REGION=eu-west-1 centralmsp collect --credentials msp.yaml \\\n  --out s3://bucket/prefix/ --tenants 'Contoso Retail' # trailing\n" +
		"cat > /tmp/x.yaml <<'EOF'\ncentralmsp no-such-command\nEOF\nfor f in deploy/athena/*.sql; do echo \"$(sed \"s|A|B|g\" \"$f\")\"; done\n```\n"
	blocks, spans, links := parseMarkdown("good.md", good)
	problems, cmds := c.checkDoc(parsedDoc{file: "good.md", blocks: blocks, spans: spans, links: links})
	if len(problems) != 0 || len(cmds) != 1 || !cmds[0].syntaxOnly {
		t.Errorf("good document: problems %q, commands %+v", problems, cmds)
	}
}

// runner runs doc commands in-process against a simulator.
type runner struct {
	t     *testing.T
	root  string
	spec  *cliSpec
	tmp   string
	creds string
	n     int

	manifestOnce sync.Once
	manifest     string
	manifestErr  error
}

func newRunner(t *testing.T, root string, spec *cliSpec) *runner {
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = 4
		o.Seed = 1
		o.TenantNames = docTenantNames
		o.RateLimits = centralsim.RateLimits{}
		o.DevicesPerTenant = func(i int) int { return 3 + i }
	})
	t.Cleanup(sim.Close)
	tmp := t.TempDir()
	creds := filepath.Join(tmp, "msp_token.yaml")
	if err := os.WriteFile(creds, sim.CredentialsYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &runner{t: t, root: root, spec: spec, tmp: tmp, creds: creds}
}

// runnable are the subcommands the runner knows how to run locally.
var runnable = map[string]bool{"demo": true, "sim": true, "tenants": true, "call": true, "refresh": true,
	"collect": true, "plan": true, "cost": true, "bench": true}

// Small sizes for the runs: at most this many tenants and devices.
const (
	maxRunTenants = 3
	maxRunDevices = 5
)

// prepare rewrites a doc command for a local run: the simulator's
// credentials, temporary directories, a free port and small sizes. It
// returns why the command is not run, if it is not.
func (r *runner) prepare(dc docCommand) ([]string, string) {
	if dc.syntaxOnly {
		return nil, "marked syntax-only"
	}
	sub, toks, _ := r.spec.parse(dc.argv)
	if isHelp(sub) {
		return dc.argv, ""
	}
	for _, tk := range toks {
		if tk.flag == "h" {
			return dc.argv, ""
		}
	}
	if !runnable[sub] {
		return nil, "no local recipe for " + sub
	}
	for _, a := range dc.argv {
		switch {
		case strings.Contains(a, "s3://") || strings.Contains(a, "sm://"):
			return nil, "needs AWS"
		case strings.ContainsAny(a, "$<>`"):
			return nil, "has placeholders"
		}
	}
	r.n++
	local := func(name string) string { return filepath.Join(r.tmp, fmt.Sprintf("%s-%d", name, r.n)) }
	small := func(v string, limit int) string {
		if n, err := strconv.Atoi(v); err == nil && n > limit {
			return strconv.Itoa(limit)
		}
		return v
	}
	seen := map[string]bool{}
	args := []string{sub}
	for _, tk := range toks {
		if tk.flag == "" {
			args = append(args, tk.value)
			continue
		}
		v := tk.value
		switch tk.flag {
		case "credentials":
			v = r.creds
		case "out":
			v = local("out")
		case "cache", "token-cache":
			v = filepath.Join(r.tmp, "token-cache")
		case "creds-out":
			v = local("creds.yaml")
		case "addr":
			v = "127.0.0.1:0"
		case "manifest":
			m, err := r.sampleManifest()
			if err != nil {
				r.t.Fatalf("a manifest for %s: %v", dc.where, err)
			}
			v = m
		case "tenants":
			if sub == "demo" || sub == "bench" || sub == "sim" {
				v = small(v, maxRunTenants)
			}
		case "devices", "devices-per-tenant":
			v = small(v, maxRunDevices)
		case "data":
			if strings.HasPrefix(v, "@") {
				return nil, "reads a request body file"
			}
		}
		seen[tk.flag] = true
		if tk.hasValue {
			args = append(args, "--"+tk.flag+"="+v)
		} else {
			args = append(args, "--"+tk.flag)
		}
	}
	add := func(flag, v string) {
		if !seen[flag] {
			args = append(args, "--"+flag+"="+v)
		}
	}
	switch sub {
	case "demo":
		add("tenants", strconv.Itoa(maxRunTenants))
		add("out", local("out"))
	case "bench":
		add("tenants", "2")
		add("devices", strconv.Itoa(maxRunDevices))
	case "sim":
		add("addr", "127.0.0.1:0")
		add("tenants", strconv.Itoa(maxRunTenants))
	}
	// Flags first: the command line stops reading flags at the first
	// positional argument (call reads them anywhere).
	var flags, pos []string
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "--") {
			flags = append(flags, a)
		} else {
			pos = append(pos, a)
		}
	}
	if sub != "call" && len(pos) > 0 {
		return append(append([]string{sub}, pos...), flags...), "" // as written: the run reports it
	}
	return append(append([]string{sub}, flags...), pos...), ""
}

// sampleManifest is the manifest of a small collection, for commands that
// read one (cost --manifest).
func (r *runner) sampleManifest() (string, error) {
	r.manifestOnce.Do(func() {
		out := filepath.Join(r.tmp, "manifest-run")
		code, stdout, stderr := r.exec(context.Background(), []string{"collect", "--credentials", r.creds, "--out", out, "--quiet"})
		if code != 0 {
			r.manifestErr = fmt.Errorf("collect: exit %d\n%s%s", code, stdout, stderr)
			return
		}
		m, _ := filepath.Glob(filepath.Join(out, "runs", "*", "manifest.json"))
		if len(m) != 1 {
			r.manifestErr = fmt.Errorf("collect wrote %d manifests", len(m))
			return
		}
		r.manifest = m[0]
	})
	return r.manifest, r.manifestErr
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (r *runner) exec(ctx context.Context, args []string) (int, string, string) {
	var out, errb syncBuffer
	code := r.execTo(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func (r *runner) execTo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env := &cli.Env{Stdout: stdout, Stderr: stderr, Getenv: func(string) string { return "" },
		Logger: slog.New(slog.DiscardHandler)}
	return cli.Main(ctx, env, args)
}

// run runs one prepared command and fails the test unless it exits 0. The
// simulator (sim) serves until interrupted: it is stopped once it has
// printed its credentials.
func (r *runner) run(t *testing.T, where string, args []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Logf("%s\n  runs as: centralmsp %s", where, strings.Join(args, " "))
	if args[0] == "sim" && !r.helpOnly(args) {
		var out, errb syncBuffer
		done := make(chan int, 1)
		simCtx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { done <- r.execTo(simCtx, args, &out, &errb) }()
		for !strings.Contains(out.String(), "--- credentials (YAML) ---") {
			select {
			case code := <-done:
				t.Fatalf("%s: sim exited %d before serving:\n%s%s", where, code, out.String(), errb.String())
			case <-ctx.Done():
				t.Fatalf("%s: sim did not print its credentials", where)
			case <-time.After(20 * time.Millisecond):
			}
		}
		stop()
		if code := <-done; code != 0 {
			t.Fatalf("%s: sim exited %d:\n%s", where, code, errb.String())
		}
		return
	}
	code, stdout, stderr := r.exec(ctx, args)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", where, code, stdout, stderr)
	}
}

func (r *runner) helpOnly(args []string) bool {
	for _, a := range args {
		if isHelp(a) {
			return true
		}
	}
	return false
}

// readmeProgram is the README's Go example: the first go block that is a
// whole program.
func readmeProgram(t testing.TB, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, _, _ := parseMarkdown("README.md", string(b))
	for _, bl := range blocks {
		src := strings.Join(bl.body, "\n") + "\n"
		if bl.lang == "go" && strings.HasPrefix(src, "package main") {
			return src
		}
	}
	t.Fatal("README.md has no ```go block holding a whole program (package main)")
	return ""
}

// TestReadmeProgram builds the README's Go example as it stands and runs it
// against the simulator, whose credentials it reads from msp_token.yaml in
// its working directory, as the README says.
func TestReadmeProgram(t *testing.T) {
	root := repoRoot(t)
	src := readmeProgram(t, root)
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go command is required under CI: %v", err)
		}
		t.Skipf("no go command to build the README's example: %v", err)
	}
	tmp := t.TempDir()
	mainGo := filepath.Join(tmp, "main.go")
	if err := os.WriteFile(mainGo, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	// The program is built as a package of this module that exists only in
	// the overlay, so it uses this tree's packages and go.sum.
	overlay := filepath.Join(tmp, "overlay.json")
	pkgDir := filepath.Join(root, "internal", "doccheck", "readmeexample")
	ov := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(pkgDir, "main.go"), mainGo)
	if err := os.WriteFile(overlay, []byte(ov), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "readme-example")
	build := exec.Command(gobin, "build", "-overlay", overlay, "-o", bin, "./internal/doccheck/readmeexample")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README's Go example does not build: %v\n%s\n%s", err, out, src)
	}

	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = 3
		o.Seed = 7
		o.TenantNames = docTenantNames
		o.DevicesPerTenant = func(i int) int { return 4 + i }
	})
	defer sim.Close()
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "msp_token.yaml"), sim.CredentialsYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, bin)
	run.Dir = work
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's Go example failed: %v\n%s", err, out)
	}
	for _, tn := range sim.Tenants() {
		if !strings.Contains(string(out), tn.Name) {
			t.Errorf("output does not list tenant %q:\n%s", tn.Name, out)
		}
	}
	t.Logf("README example output:\n%s", out)
}

// TestReadmeProgramMatchesExample: the README's example is the runnable
// Example it names, and the calls it makes appear in that Example's file.
func TestReadmeProgramMatchesExample(t *testing.T) {
	root := repoRoot(t)
	src := readmeProgram(t, root)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`go test -run '\^?(Example[A-Za-z_]+)[^']*' -v (\./pkg/[a-z]+/)`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md does not name the runnable Example its Go program matches (go test -run 'ExampleX' -v ./pkg/...)")
	}
	files, _ := filepath.Glob(filepath.Join(root, string(m[2]), "*_test.go"))
	var examples strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples.Write(b)
	}
	if !strings.Contains(examples.String(), "func "+string(m[1])) {
		t.Fatalf("%s has no %s", m[2], m[1])
	}
	call := regexp.MustCompile(`\b(?:msp|central)\.[A-Z][A-Za-z]*|\.(?:Tenants|Tenant|Command|Close)\(`)
	for _, c := range call.FindAllString(src, -1) {
		if !strings.Contains(examples.String(), c) {
			t.Errorf("the README's example uses %s, which the Examples in %s do not", c, m[2])
		}
	}
}
