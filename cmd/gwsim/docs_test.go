package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gwsim/gwsim/scenarios"
)

// docFiles are the README and every page under docs/.
func docFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, "../../README.md")
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(p, "../../")] = string(b)
	}
	return out
}

// codeBlock is one fenced block of a page: its info string and its text.
type codeBlock struct {
	lang, text string
	line       int
}

func codeBlocks(page string) []codeBlock {
	var out []codeBlock
	lines := strings.Split(page, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "```") {
			continue
		}
		b := codeBlock{lang: strings.TrimPrefix(l, "```"), line: i + 1}
		var text []string
		for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
			text = append(text, lines[i])
		}
		b.text = strings.Join(text, "\n")
		out = append(out, b)
	}
	return out
}

// gwsimCommands are the gwsim command lines of a block: "gwsim CMD ..."
// (after an optional "$ " prompt, or "go run ./cmd/gwsim"), with
// backslash continuations joined, cut at the first shell operator or
// comment.
func gwsimCommands(text string) [][]string {
	text = strings.ReplaceAll(text, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "$ "))
		for _, part := range regexp.MustCompile(`&&|;|\|`).Split(line, -1) {
			part = strings.TrimSpace(part)
			found := false
			for _, prefix := range []string{"go run ./cmd/gwsim ", "gwsim ", "../shared/tools/busy 12 gwsim ", "/tmp/gwsim "} {
				if strings.HasPrefix(part, prefix) {
					part, found = strings.TrimPrefix(part, prefix), true
					break
				}
			}
			if !found {
				continue
			}
			var args []string
			for _, f := range strings.Fields(part) {
				if f == "#" || f == "&" || f == ">" || strings.HasPrefix(f, "#") || strings.HasPrefix(f, ">") || strings.HasPrefix(f, "2>") {
					break
				}
				args = append(args, f)
			}
			if len(args) > 0 {
				out = append(out, args)
			}
		}
	}
	return out
}

// TestDocumentedCommands: every gwsim command line in the README and the
// docs names a command that exists, and every flag it gives is one of
// that command's flags (as its --help lists them).
func TestDocumentedCommands(t *testing.T) {
	helps := map[string]string{}
	help := func(cmd string) (string, bool) {
		if h, ok := helps[cmd]; ok {
			return h, h != ""
		}
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{cmd, "--help"}, &out, &errOut)
		h := out.String() + errOut.String()
		if code != exitOK {
			h = ""
		}
		helps[cmd] = h
		return h, h != ""
	}
	checked := 0
	for page, text := range docFiles(t) {
		for _, b := range codeBlocks(text) {
			if b.lang != "" && b.lang != "sh" && b.lang != "bash" && b.lang != "console" {
				continue
			}
			for _, args := range gwsimCommands(b.text) {
				cmd := args[0]
				if strings.HasPrefix(cmd, "-") { // gwsim --version
					if cmd != "--version" && cmd != "-version" {
						t.Errorf("%s:%d: gwsim %s: not a command", page, b.line, cmd)
					}
					continue
				}
				h, ok := help(cmd)
				if !ok {
					t.Errorf("%s:%d: gwsim %s: no such command", page, b.line, strings.Join(args, " "))
					continue
				}
				for _, a := range args[1:] {
					if !strings.HasPrefix(a, "--") {
						continue
					}
					name := strings.SplitN(a, "=", 2)[0]
					if !regexp.MustCompile(`(^|\s|,)` + regexp.QuoteMeta(name) + `(\s|$|=)`).MatchString(h) {
						t.Errorf("%s:%d: gwsim %s: %s is not a flag of %s", page, b.line, strings.Join(args, " "), name, cmd)
					}
				}
				checked++
			}
		}
	}
	if checked < 30 {
		t.Errorf("only %d documented command lines found: the extraction is broken", checked)
	}
}

// TestDocumentedScenarios: every YAML block in the README and the docs
// that is a scenario (it has a name and a gateway or backend section)
// loads.
func TestDocumentedScenarios(t *testing.T) {
	n := 0
	for page, text := range docFiles(t) {
		for _, b := range codeBlocks(text) {
			if b.lang != "yaml" || strings.Contains(b.text, "jobs:") || strings.Contains(b.text, "services:") {
				continue
			}
			if !regexp.MustCompile(`(?m)^name:`).MatchString(b.text) || !regexp.MustCompile(`(?m)^(gateway|backend):`).MatchString(b.text) {
				continue
			}
			if _, err := scenarios.Parse(page, []byte(b.text)); err != nil {
				t.Errorf("%s:%d: the scenario does not load: %v", page, b.line, err)
			}
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d scenario blocks found, want the README's and the docs'", n)
	}
}

// TestREADMECheckExample: the README's gwsim check example prints what the
// README shows, and exits 3.
func TestREADMECheckExample(t *testing.T) {
	readme := docFiles(t)["README.md"]
	i := strings.Index(readme, "$ gwsim check --gateway appgw-v2 --backend apache")
	if i < 0 {
		t.Fatal("the README has no gwsim check example")
	}
	block := readme[i:]
	block = block[strings.Index(block, "\n")+1 : strings.Index(block, "```")]
	code, out, _ := runCLI(t, "check", "--gateway", "appgw-v2", "--backend", "apache")
	if code != exitExpect || out != block {
		t.Errorf("gwsim check: exit %d\n%s\nthe README shows (exit 3):\n%s", code, out, block)
	}
}
