package doccheck

import (
	"fmt"
	"regexp"
	"strings"
)

// syntaxOnlyMarker, on the last non-blank line before a fence, keeps the
// block's commands from being run: they are checked for their syntax only.
const syntaxOnlyMarker = "<!-- doccheck: syntax-only -->"

// codeBlock is one fenced code block of a Markdown file.
type codeBlock struct {
	file       string
	line       int // line of the opening fence, 1-based
	lang       string
	syntaxOnly bool
	body       []string // the lines between the fences, fence indentation removed
}

// where names the block in failure messages.
func (b codeBlock) where() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// shellLangs are the info strings whose blocks are read as shell scripts.
var shellLangs = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}

// codeSpan is an inline code span outside fenced blocks.
type codeSpan struct {
	file string
	line int
	text string
}

// mdLink is a relative link target of a Markdown file.
type mdLink struct {
	file   string
	line   int
	target string
}

var (
	spanRE = regexp.MustCompile("`([^`]+)`")
	linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// parseMarkdown returns the fenced blocks, the inline code spans and the
// relative link targets of a Markdown document.
func parseMarkdown(file, src string) ([]codeBlock, []codeSpan, []mdLink) {
	var blocks []codeBlock
	var spans []codeSpan
	var links []mdLink
	lines := strings.Split(src, "\n")
	lastText := ""
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimLeft(line, " \t")
		indent := len(line) - len(trimmed)
		if fence, info, ok := openFence(trimmed); ok {
			b := codeBlock{file: file, line: i + 1, syntaxOnly: lastText == syntaxOnlyMarker}
			if f := strings.Fields(info); len(f) > 0 {
				b.lang = strings.ToLower(f[0])
			}
			for i++; i < len(lines); i++ {
				l := lines[i]
				if closesFence(strings.TrimLeft(l, " \t"), fence) {
					break
				}
				if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
					l = l[indent:]
				} else {
					l = strings.TrimLeft(l, " \t")
				}
				b.body = append(b.body, l)
			}
			blocks = append(blocks, b)
			lastText = ""
			continue
		}
		if strings.TrimSpace(line) != "" {
			lastText = strings.TrimSpace(line)
		}
		inTable := strings.HasPrefix(trimmed, "|")
		for _, m := range spanRE.FindAllStringSubmatch(line, -1) {
			text := m[1]
			if inTable {
				text = strings.ReplaceAll(text, `\|`, "|")
			}
			spans = append(spans, codeSpan{file: file, line: i + 1, text: strings.TrimSpace(text)})
		}
		for _, m := range linkRE.FindAllStringSubmatch(spanRE.ReplaceAllString(line, ""), -1) {
			t := m[1]
			if strings.Contains(t, "://") || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "mailto:") {
				continue
			}
			links = append(links, mdLink{file: file, line: i + 1, target: t})
		}
	}
	return blocks, spans, links
}

// openFence reports whether line opens a fenced block, with the fence and
// the info string.
func openFence(line string) (fence, info string, ok bool) {
	for _, c := range []string{"`", "~"} {
		n := 0
		for n < len(line) && line[n:n+1] == c {
			n++
		}
		if n >= 3 {
			if c == "`" && strings.Contains(line[n:], "`") {
				return "", "", false
			}
			return line[:n], strings.TrimSpace(line[n:]), true
		}
	}
	return "", "", false
}

func closesFence(line, fence string) bool {
	t := strings.TrimRight(line, " \t")
	return strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == ""
}

// shellScript returns the shell text of a block: for console blocks the
// "$ " lines (and their continuations) only, and never here-document bodies.
func shellScript(b codeBlock) string {
	var lines []string
	cont := false
	for _, l := range b.body {
		if b.lang == "console" {
			switch {
			case strings.HasPrefix(l, "$ "):
				l = l[2:]
			case cont:
			default:
				continue
			}
			cont = strings.HasSuffix(l, `\`)
		}
		lines = append(lines, l)
	}
	var out []string
	delim := ""
	for _, l := range lines {
		if delim != "" {
			if strings.TrimSpace(l) == delim {
				delim = ""
			}
			continue
		}
		out = append(out, l)
		if m := heredocRE.FindStringSubmatch(l); m != nil {
			delim = m[1]
		}
	}
	return strings.Join(out, "\n")
}

var heredocRE = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// shellCommands splits shell text into simple commands (argument vectors
// after quote removal), separated by newlines, ;, &, | and the like.
// Redirections and their targets are dropped; $(...) and `...` stay in the
// word they belong to, unexpanded. Leading keywords (do, then, ...) and
// variable assignments are removed, so "X=1 make test" is ["make" "test"].
func shellCommands(src string) ([][]string, error) {
	var cmds [][]string
	var cur []string
	var word strings.Builder
	inWord, skipNext := false, false
	endWord := func() {
		if !inWord {
			return
		}
		if skipNext {
			skipNext = false
		} else {
			cur = append(cur, word.String())
		}
		word.Reset()
		inWord = false
	}
	endCmd := func() {
		endWord()
		if c := trimCommand(cur); len(c) > 0 {
			cmds = append(cmds, c)
		}
		cur = nil
	}
	rs := []rune(src)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\':
			if i+1 < len(rs) && rs[i+1] == '\n' {
				i++
				endWord()
				continue
			}
			if i+1 < len(rs) {
				i++
				word.WriteRune(rs[i])
				inWord = true
			}
		case c == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated single quote")
			}
			word.WriteString(string(rs[i+1 : j]))
			inWord, i = true, j
		case c == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				switch {
				case rs[j] == '\\' && j+1 < len(rs) && strings.ContainsRune("\"\\$`\n", rs[j+1]):
					j++
					if rs[j] != '\n' {
						word.WriteRune(rs[j])
					}
				case rs[j] == '$' && j+1 < len(rs) && rs[j+1] == '(':
					k, err := scanSubst(rs, j+2)
					if err != nil {
						return nil, err
					}
					word.WriteString(string(rs[j:k]))
					j = k - 1
				default:
					word.WriteRune(rs[j])
				}
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated double quote")
			}
			inWord, i = true, j
		case c == '$' && i+1 < len(rs) && rs[i+1] == '(':
			k, err := scanSubst(rs, i+2)
			if err != nil {
				return nil, err
			}
			word.WriteString(string(rs[i:k]))
			inWord, i = true, k-1
		case c == '`':
			j := i + 1
			for j < len(rs) && rs[j] != '`' {
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated backquote")
			}
			word.WriteString(string(rs[i : j+1]))
			inWord, i = true, j
		case c == '#' && !inWord:
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			endCmd()
		case c == '\n' || c == ';' || c == '&' || c == '|' || c == '(' || c == ')':
			endCmd()
		case c == '<' || c == '>':
			if inWord && isDigits(word.String()) {
				word.Reset()
				inWord = false
			}
			endWord()
			j := i
			for j+1 < len(rs) && (rs[j+1] == '<' || rs[j+1] == '>' || rs[j+1] == '-') {
				j++
			}
			if j+1 < len(rs) && rs[j+1] == '&' {
				j++
				for j+1 < len(rs) && (rs[j+1] >= '0' && rs[j+1] <= '9' || rs[j+1] == '-') {
					j++
				}
			} else {
				skipNext = true
			}
			i = j
		case c == ' ' || c == '\t':
			endWord()
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	endCmd()
	return cmds, nil
}

// scanSubst returns the index just after the ')' closing a $( that ends
// before start.
func scanSubst(rs []rune, start int) (int, error) {
	depth := 1
	for j := start; j < len(rs); j++ {
		switch rs[j] {
		case '\\':
			j++
		case '\'':
			for j++; j < len(rs) && rs[j] != '\''; j++ {
			}
		case '"':
			for j++; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' {
					j++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unterminated $(")
}

var assignRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func trimCommand(argv []string) []string {
	for len(argv) > 0 {
		switch {
		case argv[0] == "do" || argv[0] == "then" || argv[0] == "else" || argv[0] == "time" || argv[0] == "!":
			argv = argv[1:]
		case assignRE.MatchString(argv[0]):
			argv = argv[1:]
		default:
			return argv
		}
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// cliArgs reports whether argv runs the centralmsp command line, and with
// which arguments.
func cliArgs(argv []string) ([]string, bool) {
	switch {
	case len(argv) >= 1 && (argv[0] == "centralmsp" || argv[0] == "./centralmsp"):
		return argv[1:], true
	case len(argv) >= 3 && argv[0] == "go" && argv[1] == "run" && strings.TrimSuffix(argv[2], "/") == "./cmd/centralmsp":
		return argv[3:], true
	}
	return nil, false
}
