package scenarios

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// SeedSuite names the scenarios `gwsim run` runs with no argument, in
// display order: the race, its cures, the second cause and the client hop.
var SeedSuite = []string{
	"appgw-v2-apache-default",
	"appgw-v2-backend-120s",
	"appgw-v2-keepalive-off",
	"appgw-v1-apache-default",
	"appgw-v1-backend-300s",
	"appgw-v2-backend-unresponsive",
	"appgw-v1-backend-unresponsive",
	"client-idle-longer-than-gateway",
	"appgw-v2-apache-retry-idempotent",
}

// Builtin returns every built-in scenario, sorted by name.
func Builtin() ([]*Scenario, error) {
	entries, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		return nil, err
	}
	var out []*Scenario
	for _, e := range entries {
		data, err := builtinFS.ReadFile("builtin/" + e.Name())
		if err != nil {
			return nil, err
		}
		s, err := Parse("builtin/"+e.Name(), data)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Lookup returns the built-in scenario name.
func Lookup(name string) (*Scenario, error) {
	all, err := Builtin()
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("unknown scenario %q (gwsim scenarios lists them)", name)
}

// Resolve turns an argument into a scenario: a path to a YAML file (it
// contains a / or ends in .yaml/.yml) or a built-in name.
func Resolve(arg string) (*Scenario, error) {
	ext := path.Ext(arg)
	if strings.ContainsRune(arg, os.PathSeparator) || ext == ".yaml" || ext == ".yml" {
		data, err := readFile(arg)
		if err != nil {
			return nil, err
		}
		return Parse(arg, data)
	}
	return Lookup(arg)
}

// readFile reads a scenario file of at most MaxFileSize bytes. A pipe
// (gwsim run <(...)) is read too, but never more than the cap: /dev/zero
// is an error, not an endless read.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("read scenario: %s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("scenario file %s is larger than 1 MiB", path)
	}
	return data, nil
}

// Seed returns the seed suite in display order.
func Seed() ([]*Scenario, error) {
	var out []*Scenario
	for _, n := range SeedSuite {
		s, err := Lookup(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
