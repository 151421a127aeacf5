package scenarios

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuiltinScenariosParse(t *testing.T) {
	all, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range all {
		names[s.Name] = true
		if s.Description == "" {
			t.Errorf("%s: no description", s.Name)
		}
		if _, err := s.loadConfig("http://127.0.0.1:1/", s.Scale()); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	for _, n := range SeedSuite {
		if !names[n] {
			t.Errorf("seed suite names %q, which is not built in", n)
		}
	}
}

func TestScenarioScaling(t *testing.T) {
	s, err := Lookup("appgw-v2-apache-default")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.profile(0.01)
	b, _ := s.backendConfig(0.01)
	l, _ := s.loadConfig("http://127.0.0.1:1/", 0.01)
	if p.BackendIdleTimeout != 600*time.Millisecond || b.KeepAliveTimeout != 50*time.Millisecond {
		t.Fatalf("scaled gateway idle %s, backend keep-alive %s", p.BackendIdleTimeout, b.KeepAliveTimeout)
	}
	// The sweep is centred on the scaled keep-alive; its offsets are physical.
	if l.GapFrom != 47*time.Millisecond || l.GapTo != 52*time.Millisecond || l.GapStep != 100*time.Microsecond {
		t.Fatalf("sweep %s..%s step %s", l.GapFrom, l.GapTo, l.GapStep)
	}
	if s.linkLatency() != 500*time.Microsecond {
		t.Fatalf("link latency %s", s.linkLatency())
	}
}

// update rewrites the golden files of the scenarios tests.
var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestBadFiles parses every testdata/bad-*.yaml and compares the error with
// the exact one-line text in its .err file.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-*.yaml")
	if err != nil || len(files) < 40 {
		t.Fatalf("%d bad files (%v)", len(files), err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse(file, data)
			if perr == nil {
				t.Fatal("parsed without error")
			}
			got := perr.Error()
			if strings.Contains(got, "\n") {
				t.Errorf("error spans lines: %q", got)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestBadFiles -update)", err)
			}
			if got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("error\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		s    string
		v    int64
		want bool
	}{{"0", 0, true}, {"0", 1, false}, {">0", 1, true}, {">0", 0, false}, {">=3", 3, true}, {"<3", 3, false}, {"<=3", 3, true}, {"==2", 2, true}} {
		c, err := parseCount(tc.s)
		if err != nil {
			t.Fatal(err)
		}
		if c.Holds(tc.v) != tc.want {
			t.Errorf("%q holds for %d: %v", tc.s, tc.v, !tc.want)
		}
	}
	for _, bad := range []string{"", ">", "x", "-1", ">-1", "=>1"} {
		if _, err := parseCount(bad); err == nil {
			t.Errorf("parseCount(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	if _, err := Resolve("appgw-v2-apache-default"); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve("nope"); err == nil || !strings.Contains(err.Error(), `unknown scenario "nope"`) {
		t.Fatalf("Resolve(nope): %v", err)
	}
}

// TestFileSizeCap: a scenario file is read up to MaxFileSize bytes, no
// more, whatever it is: a big file, an endless device, or bytes in memory.
func TestFileSizeCap(t *testing.T) {
	valid := "name: x\nload: {requests: 1}\n"
	dir := t.TempDir()
	atCap := filepath.Join(dir, "at-cap.yaml")
	big := filepath.Join(dir, "big.yaml")
	pad := func(n int) string { return valid + "#" + strings.Repeat("x", n-len(valid)-2) + "\n" }
	if err := os.WriteFile(atCap, []byte(pad(MaxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, []byte(pad(MaxFileSize+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(atCap); err != nil {
		t.Errorf("a file of exactly 1 MiB: %v", err)
	}
	tests := []struct{ path, want string }{
		{big, "scenario file " + big + " is larger than 1 MiB"},
		{dir, "read scenario: " + dir + " is a directory"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		tests = append(tests, struct{ path, want string }{"/dev/zero", "scenario file /dev/zero is larger than 1 MiB"})
	}
	for _, tt := range tests {
		if _, err := Resolve(tt.path); err == nil || err.Error() != tt.want {
			t.Errorf("Resolve(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
	if _, err := Parse("mem.yaml", []byte(pad(MaxFileSize+1))); err == nil || err.Error() != "scenario file mem.yaml is larger than 1 MiB" {
		t.Errorf("Parse of 1 MiB + 1 byte: %v", err)
	}
}
