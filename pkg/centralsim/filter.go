package centralsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Filter is a parsed OData 4.0 subset filter: clauses joined with "and"
// (GLP and Central both document "and"; "or" and "not" are rejected).
type Filter struct {
	Clauses []Clause
}

// Clause is one comparison: Field Op Value, or Field in (Values...).
type Clause struct {
	Field  string // path with '/' separators, e.g. user/username
	Op     string // eq, ne, gt, ge, lt, le, in
	Values []any  // one value unless Op is in; string, float64, bool or nil
}

// ParseFilter parses an OData filter such as
// "workspaceName eq 'O”Brien' and createdAt ge '2024-02-16T07:54:55.0Z'".
// Single quotes inside string literals are doubled.
func ParseFilter(s string) (*Filter, error) {
	p := &filterParser{s: s}
	f := &Filter{}
	for {
		p.skipSpace()
		if p.peek() == '(' {
			return nil, p.errf("parenthesised expressions are not supported")
		}
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		f.Clauses = append(f.Clauses, c)
		p.skipSpace()
		if p.eof() {
			return f, nil
		}
		w := p.word()
		switch strings.ToLower(w) {
		case "and":
		case "or", "not":
			return nil, p.errf("operator %q is not supported", w)
		default:
			return nil, p.errf("expected 'and', got %q", w)
		}
	}
}

type filterParser struct {
	s   string
	pos int
}

func (p *filterParser) errf(format string, a ...any) error {
	return fmt.Errorf("invalid filter at offset %d: %s", p.pos, fmt.Sprintf(format, a...))
}

func (p *filterParser) eof() bool { return p.pos >= len(p.s) }

func (p *filterParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

func (p *filterParser) skipSpace() {
	for !p.eof() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func isIdent(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && (c >= '0' && c <= '9' || c == '/' || c == '.' || c == '-')
}

func (p *filterParser) word() string {
	start := p.pos
	for !p.eof() && isIdent(p.s[p.pos], p.pos == start) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *filterParser) clause() (Clause, error) {
	field := p.word()
	if field == "" {
		return Clause{}, p.errf("expected a field name")
	}
	p.skipSpace()
	op := strings.ToLower(p.word())
	switch op {
	case "eq", "ne", "gt", "ge", "lt", "le":
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return Clause{}, err
		}
		return Clause{Field: field, Op: op, Values: []any{v}}, nil
	case "in":
		p.skipSpace()
		if p.peek() != '(' {
			return Clause{}, p.errf("expected '(' after in")
		}
		p.pos++
		var vals []any
		for {
			p.skipSpace()
			v, err := p.value()
			if err != nil {
				return Clause{}, err
			}
			vals = append(vals, v)
			p.skipSpace()
			switch p.peek() {
			case ',':
				p.pos++
				continue
			case ')':
				p.pos++
				return Clause{Field: field, Op: op, Values: vals}, nil
			}
			return Clause{}, p.errf("expected ',' or ')'")
		}
	case "":
		return Clause{}, p.errf("expected an operator after %q", field)
	default:
		return Clause{}, p.errf("operator %q is not supported", op)
	}
}

func (p *filterParser) value() (any, error) {
	if p.peek() == '\'' {
		p.pos++
		var b strings.Builder
		for {
			if p.eof() {
				return nil, p.errf("unterminated string literal")
			}
			c := p.s[p.pos]
			p.pos++
			if c == '\'' {
				if p.peek() == '\'' {
					b.WriteByte('\'')
					p.pos++
					continue
				}
				return b.String(), nil
			}
			b.WriteByte(c)
		}
	}
	start := p.pos
	for !p.eof() && p.s[p.pos] != ' ' && p.s[p.pos] != ')' && p.s[p.pos] != ',' {
		p.pos++
	}
	lit := p.s[start:p.pos]
	switch lit {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	case "":
		return nil, p.errf("expected a value")
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return nil, p.errf("invalid literal %q", lit)
	}
	return f, nil
}

// QuoteODataString quotes s as an OData string literal (” for ').
func QuoteODataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

var errFilterField = errors.New("field is not filterable")

// check verifies every clause uses an allowed field and operator. allowed maps
// field to allowed operators ("" = all); nil allows everything.
func (f *Filter) check(allowed map[string]string, ops string) error {
	for _, c := range f.Clauses {
		if ops != "" && !strings.Contains(ops, c.Op) {
			return fmt.Errorf("operator %q is not supported", c.Op)
		}
		if allowed == nil {
			continue
		}
		a, ok := allowed[c.Field]
		if !ok {
			return fmt.Errorf("%w: %s", errFilterField, c.Field)
		}
		if a != "" && !strings.Contains(a, c.Op) {
			return fmt.Errorf("operator %q is not supported for %s", c.Op, c.Field)
		}
		if (c.Field == "createdAt" || c.Field == "updatedAt") && c.Op != "in" {
			s, ok := c.Values[0].(string)
			if !ok {
				return fmt.Errorf("%s needs a quoted date-time", c.Field)
			}
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return fmt.Errorf("invalid date-time %q for %s", s, c.Field)
			}
		}
	}
	return nil
}

// Match reports whether item (a decoded JSON object) satisfies every clause.
func (f *Filter) Match(item map[string]any) bool {
	for _, c := range f.Clauses {
		got := lookup(item, c.Field)
		ok := false
		if c.Op == "in" {
			for _, v := range c.Values {
				if compare(got, v) == 0 {
					ok = true
					break
				}
			}
		} else {
			r := compare(got, c.Values[0])
			switch c.Op {
			case "eq":
				ok = r == 0
			case "ne":
				ok = r != 0
			case "gt":
				ok = r == 1
			case "ge":
				ok = r == 1 || r == 0
			case "lt":
				ok = r == -1
			case "le":
				ok = r == -1 || r == 0
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func lookup(item map[string]any, path string) any {
	var cur any = item
	for part := range strings.SplitSeq(path, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// compare returns -1, 0, 1, or 2 when the values are not comparable.
func compare(got, want any) int {
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		if !ok {
			return 2
		}
		if tg, err := time.Parse(time.RFC3339Nano, g); err == nil {
			if tw, err := time.Parse(time.RFC3339Nano, w); err == nil {
				return tg.Compare(tw)
			}
		}
		return strings.Compare(g, w)
	case float64:
		g, ok := got.(float64)
		if !ok {
			return 2
		}
		switch {
		case g < w:
			return -1
		case g > w:
			return 1
		}
		return 0
	case bool:
		if g, ok := got.(bool); ok && g == w {
			return 0
		}
		return 2
	case nil:
		if got == nil {
			return 0
		}
		return 2
	}
	return 2
}
