package envconf

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestReaderValues(t *testing.T) {
	r := New(envOf(map[string]string{
		"S": "  x  ", "B": "true", "D": "50m", "I": "16", "F": "0.4", "R": "r",
	}))
	b, d, i, f := false, time.Duration(0), 8, 0.5
	r.Bool("B", &b)
	r.Duration("D", "50m", &d)
	r.Int("I", 1, 256, &i)
	r.Float("F", 0, 1, &f)
	if got := r.Get("S"); got != "x" {
		t.Errorf("Get %q, want trimmed x", got)
	}
	if got := r.Required("R", "give R"); got != "r" {
		t.Errorf("Required %q", got)
	}
	r.Check("C", nil)
	if !b || d != 50*time.Minute || i != 16 || f != 0.4 {
		t.Errorf("values %v %v %v %v", b, d, i, f)
	}
	if err := r.Err("fn"); err != nil {
		t.Fatal(err)
	}
}

func TestReaderUnsetKeepsDefaults(t *testing.T) {
	r := New(envOf(map[string]string{"B": " ", "I": ""}))
	b, d, i, f := true, time.Hour, 8, 0.5
	r.Bool("B", &b)
	r.Duration("D", "1h", &d)
	r.Int("I", 1, 2, &i)
	r.Float("F", 0, 1, &f)
	if !b || d != time.Hour || i != 8 || f != 0.5 || r.Err("fn") != nil {
		t.Errorf("defaults changed: %v %v %v %v %v", b, d, i, f, r.Err("fn"))
	}
}

func TestReaderErrors(t *testing.T) {
	r := New(envOf(map[string]string{
		"B": "maybe", "D": "-1s", "D2": "soon", "I": "0", "I2": "x", "F": "0", "F2": "NaN", "F3": "1.5",
	}))
	var b bool
	var d time.Duration
	var i int
	var f float64
	r.Required("R", "give the thing")
	r.Bool("B", &b)
	r.Duration("D", "50m", &d)
	r.Duration("D2", "50m", &d)
	r.Int("I", 1, 256, &i)
	r.Int("I2", 1, 256, &i)
	r.Float("F", 0, 1, &f)
	r.Float("F2", 0, 1, &f)
	r.Float("F3", 0, 1, &f)
	r.Check("C", errors.New("bad c"))
	r.Bad("X", "v", "want w")
	err := r.Err("collector")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"collector: configuration: ",
		"R is not set: give the thing",
		`B="maybe": want true or false`,
		`D="-1s": want a positive duration such as 50m`,
		`D2="soon"`,
		`I="0": want a whole number from 1 to 256`,
		`I2="x"`,
		`F="0": want a number above 0 and at most 1`,
		`F2="NaN"`, `F3="1.5"`,
		"C: bad c",
		`X="v": want w`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
	if b || d != 0 || i != 0 || f != 0 {
		t.Errorf("an unusable value was stored: %v %v %v %v", b, d, i, f)
	}
}

func TestAWSConfigDefaultRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	cfg, err := AWSConfig(context.Background(), "fn")
	if err != nil || cfg.Region != "" {
		t.Fatalf("region %q %v", cfg.Region, err)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	cfg, err = AWSConfig(context.Background(), "fn")
	if err != nil || cfg.Region != "eu-west-1" {
		t.Fatalf("region %q %v", cfg.Region, err)
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want int64
	}{
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, 512 << 20 * 85 / 100},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": " 128 "}, 128 << 20 * 85 / 100},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240"}, 10240 << 20 * 85 / 100},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "GOMEMLIMIT": "300MiB"}, 0},
		{map[string]string{}, 0},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, 0},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "64"}, 0},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "99999999999999999999"}, 0},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "-512"}, 0},
	} {
		got := MemoryLimit(func(k string) string { return tc.env[k] })
		if got != tc.want {
			t.Errorf("MemoryLimit(%v) = %d, want %d", tc.env, got, tc.want)
		}
	}
}
