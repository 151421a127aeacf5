package scenarios

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
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
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	if near := DidYouMean(name, names); near != "" {
		return nil, fmt.Errorf("unknown scenario %q: %s (gwsim scenarios lists them)", name, near)
	}
	return nil, fmt.Errorf("unknown scenario %q (gwsim scenarios lists them)", name)
}

// Suggest is the candidates closest to name by edit distance
// (insertions, deletions, substitutions and swaps of two neighbours each
// count 1, letter case ignored), at most three, in candidate order; none
// when no candidate is within a third of name's length (at least 1, at
// most 3 edits). The "did you mean" of unknown scenarios, presets and
// commands.
func Suggest(name string, candidates []string) []string {
	limit := min(max(len(name)/3, 1), 3)
	var best []string
	bestD := limit + 1
	for _, c := range candidates {
		if c == name {
			continue
		}
		switch d := editDistance(strings.ToLower(name), strings.ToLower(c)); {
		case d < bestD:
			best, bestD = []string{c}, d
		case d == bestD && len(best) < 3:
			best = append(best, c)
		}
	}
	return best
}

// DidYouMean is `did you mean "x"?` (or `"x" or "y"?`) for Suggest's
// answer, or "" when it has none.
func DidYouMean(name string, candidates []string) string {
	near := Suggest(name, candidates)
	if len(near) == 0 {
		return ""
	}
	q := make([]string, len(near))
	for i, n := range near {
		q[i] = strconv.Quote(n)
	}
	return "did you mean " + strings.Join(q, " or ") + "?"
}

// didYouMean is "; " and DidYouMean's answer, or "".
func didYouMean(name string, candidates []string) string {
	if s := DidYouMean(name, candidates); s != "" {
		return "; " + s
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b,
// by bytes (names are ASCII).
func editDistance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return max(len(a), len(b)) // not a typo of a name; bounded work
	}
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// Resolve turns an argument into a scenario: a path to a YAML file (it
// contains a / or ends in .yaml/.yml) or a built-in name.
func Resolve(arg string) (*Scenario, error) {
	return resolve(arg, Parse)
}

// ResolveSettings is Resolve for what needs no traffic (gwsim check): a
// file is read with ParseSettings, so it needs no load section.
func ResolveSettings(arg string) (*Scenario, error) {
	return resolve(arg, ParseSettings)
}

func resolve(arg string, parse func(string, []byte) (*Scenario, error)) (*Scenario, error) {
	ext := path.Ext(arg)
	if strings.ContainsRune(arg, os.PathSeparator) || ext == ".yaml" || ext == ".yml" {
		data, err := readFile(arg)
		if err != nil {
			return nil, err
		}
		return parse(arg, data)
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
