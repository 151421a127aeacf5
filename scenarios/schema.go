package scenarios

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// positions maps the fields of a scenario file to their lines, so that an
// error can name both: "line 4: gateway.retry: ...".
type positions struct {
	keys   map[string]int // dotted path → line of its key
	values []valuePos     // every value node, in document order
}

type valuePos struct {
	line, col int
	path      string
	node      *yaml.Node
}

// indexPositions walks the document. It never fails: whatever it cannot
// place is simply not found later.
func indexPositions(root *yaml.Node) *positions {
	p := &positions{keys: map[string]int{}}
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if n == nil || depth > 32 || seen[n] {
			return
		}
		seen[n] = true
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, depth+1)
			}
			return
		case yaml.AliasNode:
			walk(n.Alias, path, depth+1)
			return
		}
		p.values = append(p.values, valuePos{line: n.Line, col: n.Column, path: path, node: n})
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				child := k.Value
				if path != "" {
					child = path + "." + k.Value
				}
				if _, dup := p.keys[child]; !dup {
					p.keys[child] = k.Line
				}
				walk(v, child, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		}
	}
	walk(root, "", 0)
	return p
}

// has reports whether the file sets the field (a dotted path).
func (p *positions) has(path string) bool {
	if p == nil {
		return false
	}
	_, ok := p.keys[path]
	return ok
}

// line is the line of the field, or of its closest parent the file has; 0
// when none.
func (p *positions) line(path string) int {
	if p == nil {
		return 0
	}
	for path != "" {
		if l, ok := p.keys[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// at names the field whose value starts at line:col ("" if none).
func (p *positions) at(line, col int) string {
	if p == nil {
		return ""
	}
	for _, v := range p.values {
		if v.line == line && v.col == col {
			return v.path
		}
	}
	return ""
}

// find names the field of a value at line that fits what the decoder
// reported: its text (possibly shortened with "...") or its kind.
func (p *positions) find(line int, tag, value string) (string, *yaml.Node) {
	if p == nil {
		return "", nil
	}
	var hit []valuePos
	for _, v := range p.values {
		if v.line != line || v.path == "" {
			continue
		}
		switch {
		case tag == "!!map" && v.node.Kind == yaml.MappingNode,
			tag == "!!seq" && v.node.Kind == yaml.SequenceNode,
			v.node.Kind == yaml.ScalarNode && value != "" && (v.node.Value == value ||
				strings.HasSuffix(value, "...") && strings.HasPrefix(v.node.Value, strings.TrimSuffix(value, "..."))):
			hit = append(hit, v)
		}
	}
	if len(hit) == 1 {
		return hit[0].path, hit[0].node
	}
	return "", nil
}

var (
	fieldNotFound = regexp.MustCompile(`^line (\d+): field (\S+) not found in type scenarios\.(\w+)$`)
	cannotDecode  = regexp.MustCompile("(?s)^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	alreadySet    = regexp.MustCompile(`^line (\d+): mapping key "(.*)" already defined at line (\d+)$`)
)

// sections names the schema's Go types as the YAML sections they decode.
var sections = map[string]string{"Scenario": "the top level", "Gateway": "gateway", "Backend": "backend",
	"Fault": "backend.faults", "Link": "link", "Client": "client", "Load": "load", "Expect": "expect"}

// goTypeWords says what a Go type wants, in a user's words.
func goTypeWords(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "scenarios."):
		return "a mapping"
	}
	return "a " + t
}

// yamlError makes a decoder error one line in the schema's own words,
// naming the field where it can.
func yamlError(err error, pos *positions) string {
	var ve *valueError
	if errors.As(err, &ve) {
		if path := pos.at(ve.line, ve.col); path != "" && !ve.bare {
			return oneLine(fmt.Sprintf("line %d: %s: %s", ve.line, path, ve.msg))
		}
		return oneLine(ve.Error())
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return oneLine(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		switch g := (fieldNotFound.FindStringSubmatch(m)); {
		case g != nil:
			msgs[i] = fmt.Sprintf("line %s: unknown field %q in %s", g[1], g[2], sections[g[3]])
			continue
		}
		if g := cannotDecode.FindStringSubmatch(m); g != nil {
			line, _ := strconv.Atoi(g[1])
			got := g[3]
			if got == "" {
				got = map[string]string{"!!map": "a mapping", "!!seq": "a list"}[g[2]]
			} else {
				got = strconv.Quote(got)
			}
			if got == "" {
				got = g[2]
			}
			path, node := pos.find(line, g[2], g[3])
			if node != nil && node.Kind == yaml.ScalarNode {
				got = strconv.Quote(node.Value) // the decoder shortens long values
			}
			msg := fmt.Sprintf("want %s, got %s", goTypeWords(g[4]), got)
			if path != "" {
				msgs[i] = fmt.Sprintf("line %d: %s: %s", line, path, msg)
			} else {
				msgs[i] = fmt.Sprintf("line %d: %s", line, msg)
			}
			continue
		}
		if g := alreadySet.FindStringSubmatch(m); g != nil {
			msgs[i] = fmt.Sprintf("line %s: %q is given twice (first at line %s)", g[1], g[2], g[3])
			continue
		}
		msgs[i] = m
	}
	return oneLine(strings.Join(msgs, "; "))
}

// A bound such as >0 left unquoted as a mapping value, in block style
// (`  502: >0`) or in flow style (`{502: >0}`): YAML reads the ">" as the
// start of a folded text block, so the decoder complains about indentation
// or tokens, or reads an empty value.
var (
	unquotedBlock = regexp.MustCompile(`^\s*(?:-\s+)?("[^"]*"|'[^']*'|[^\s#"'{}\[\],:][^#{}\[\],:]*?)\s*:\s+(>=?\s*[0-9][^\s#,{}\[\]]*)\s*(?:#.*)?$`)
	unquotedFlow  = regexp.MustCompile(`[{,]\s*("[^"]*"|'[^']*'|[^\s#"'{}\[\],:][^#{}\[\],:]*?)\s*:\s+(>=?\s*[0-9][^\s#,{}\[\]]*)`)
	lineOf        = regexp.MustCompile(`^line (\d+): `)
)

// unquotedBound turns msg, a decoder error, into advice to quote a bound
// when the line it names (or the line before) holds an unquoted value that
// starts with ">"; else it returns msg.
func unquotedBound(msg string, data []byte) string {
	g := lineOf.FindStringSubmatch(msg)
	if g == nil {
		return msg
	}
	n, _ := strconv.Atoi(g[1])
	lines := strings.Split(string(data), "\n")
	for _, l := range []int{n, n - 1} {
		if l < 1 || l > len(lines) {
			continue
		}
		text := strings.TrimSuffix(lines[l-1], "\r")
		m := unquotedBlock.FindStringSubmatch(text)
		if m == nil {
			m = unquotedFlow.FindStringSubmatch(text)
		}
		if m == nil {
			continue
		}
		key, value := m[1], strings.TrimSpace(m[2])
		if !strings.HasPrefix(key, `"`) && !strings.HasPrefix(key, "'") {
			key = strconv.Quote(key)
		}
		return fmt.Sprintf("line %d: %s: %s must be quoted, as in %s: %q (YAML reads an unquoted > as the start of a folded text block)",
			l, strings.Trim(key, `"'`), value, key, value)
	}
	return msg
}

// oneLine keeps an error on one line whatever the input held.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}
