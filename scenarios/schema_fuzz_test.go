package scenarios

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics and never hangs; whatever it returns is
// either a scenario that validates or a one-line error naming the file.
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./scenarios
func FuzzParse(f *testing.F) {
	_ = fs.WalkDir(builtinFS, "builtin", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := builtinFS.ReadFile(p)
			f.Add(data)
		}
		return nil
	})
	files, _ := filepath.Glob("testdata/*.yaml")
	more, _ := filepath.Glob("testdata/ci-example/*.yaml")
	for _, file := range append(files, more...) {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("name: x\nexpect: &a {502: 0}\nload: {requests: 1}\n"))
	f.Add([]byte("name: &n x\nwhy: *n\nload: {requests: 1}\n"))
	f.Add([]byte("name: x\nexpect:\n  <<: {502: 0}\nload: {requests: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		s, err := Parse("f.yaml", data)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "f.yaml: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error not one line naming the file: %q", msg)
			}
			if s != nil {
				t.Fatal("a scenario and an error")
			}
			return
		}
		if s.Name == "" || !ValidTimeScale(s.Scale()) {
			t.Fatalf("accepted an invalid scenario: %+v", s)
		}
		if err := s.Clone().Validate(); err != nil {
			t.Fatalf("a parsed scenario does not validate again: %v", err)
		}
		if _, err := s.loadConfig("http://127.0.0.1:1/", s.Scale()); err != nil {
			t.Fatalf("parsed, but its load does not: %v", err)
		}
	})
}
