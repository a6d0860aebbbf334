package envconf

import (
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzReader: any value either sets a number within its bounds with no
// error, or leaves the destination alone and records one error naming the
// variable. It never panics.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"", " 16 ", "0", "-1", "1e3", "NaN", "+Inf", "0x10", "50m", "-5s", "true", "T", "yes", "\x00", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		get := func(string) string { return v }
		blank := strings.TrimSpace(v) == ""
		// set reads VAR into a destination that starts out of bounds and
		// reports whether it was changed and whether it is now in bounds.
		checkOne := func(kind string, set func(r *Reader) (changed, inBounds bool)) {
			r := New(get)
			changed, inBounds := set(r)
			err := r.Err("fn")
			switch {
			case blank && (err != nil || changed):
				t.Fatalf("%s: blank %q: changed %v, error %v", kind, v, changed, err)
			case !blank && err == nil && (!changed || !inBounds):
				t.Fatalf("%s: %q: no error, changed %v, in bounds %v", kind, v, changed, inBounds)
			case err != nil && (changed || len(r.errs) != 1 || !strings.Contains(err.Error(), "VAR=")):
				t.Fatalf("%s: %q: changed %v, error %v", kind, v, changed, err)
			}
		}
		checkOne("int", func(r *Reader) (bool, bool) {
			n := -7
			r.Int("VAR", 1, 256, &n)
			return n != -7, n >= 1 && n <= 256
		})
		checkOne("float", func(r *Reader) (bool, bool) {
			x := -7.0
			r.Float("VAR", 0, 1, &x)
			return x != -7, !math.IsNaN(x) && x > 0 && x <= 1
		})
		checkOne("duration", func(r *Reader) (bool, bool) {
			d := time.Duration(-7)
			r.Duration("VAR", "50m", &d)
			return d != -7, d > 0
		})
		// A bool has no out-of-bounds start: read it over true and over
		// false; a value sets both alike, an error leaves both.
		checkOne("bool", func(r *Reader) (bool, bool) {
			t1, f1 := true, false
			r.Bool("VAR", &t1)
			r2 := New(get)
			r2.Bool("VAR", &f1)
			return t1 == f1, true
		})
	})
}
