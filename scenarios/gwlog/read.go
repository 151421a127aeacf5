package gwlog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxLineBytes caps one line. A longer line is counted as skipped, not
// returned as an error: one corrupt line must not stop a day of logs.
const maxLineBytes = 1 << 20

// detectBytes is how much of the (decompressed) start of a log
// auto-detection looks at, without consuming it.
const detectBytes = 64 << 10

// detectLines is how many non-empty first lines auto-detection tries.
const detectLines = 10

// Reader streams the Records of one log (gzip accepted, detected by its
// magic bytes 1f 8b). It holds one line (or, for a JSON document, one
// array element) at a time, never the whole file.
type Reader struct {
	name    string
	format  Format
	counter *countingReader
	in      *bufio.Reader // decompressed text

	lineNo       int
	skipped      int
	firstSkipped string
	// ignored counts well-formed lines that are about no request: a header
	// row, a comment, an nginx error-log event that is not about an
	// upstream, an AppGW firewall record. Neither a Record nor skipped.
	ignored int
	// records counts the Records returned.
	records int

	parser lineParser // line-oriented formats (and JSON lines)
	doc    *jsonDoc   // a JSON array or document spanning lines (AppGW, GCP)
	done   bool
}

// lineVerdict says what a line was.
type lineVerdict int

const (
	lineRecord  lineVerdict = iota // a Record
	lineIgnored                    // well-formed, about no request (header, comment, non-request event)
	lineSkipped                    // could not be read as the format
)

// lineParser turns one line into a Record. Parsers that need state (the
// CSV header) keep it themselves.
type lineParser interface {
	parseLine(line string) (Record, lineVerdict, string)
}

// NewReader returns a Reader of r, named name in messages. With
// FormatAuto it detects the format from the first non-empty lines
// without consuming them.
func NewReader(r io.Reader, name string, f Format) (*Reader, error) {
	counter := &countingReader{r: r}
	raw := bufio.NewReaderSize(counter, detectBytes)
	var text io.Reader = raw
	if magic, _ := raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		text = zr
	}
	rd := &Reader{name: name, counter: counter, in: bufio.NewReaderSize(text, detectBytes)}
	// Windows tools (the Azure portal's CSV export among them) may start a
	// file with a UTF-8 byte order mark; JSON and the line patterns want none.
	if bom, _ := rd.in.Peek(3); bytes.Equal(bom, []byte("\ufeff")) {
		_, _ = rd.in.Discard(3)
	}
	// A read error while peeking (a truncated gzip) is not fatal here: the
	// lines before it are still read, and Next returns the error after them.
	head, _ := rd.in.Peek(detectBytes)
	if f == "" || f == FormatAuto {
		if len(bytes.TrimSpace(head)) == 0 {
			// An empty log is no error: it has no records, whatever its format.
			rd.format = FormatAuto
			rd.done = true
			return rd, nil
		}
		f = detect(head)
		if f == "" {
			return nil, fmt.Errorf("%s: cannot tell the log format from its first lines (want --format appgw|alb|nginx|haproxy|envoy|gcp)", name)
		}
	}
	rd.format = f
	switch f {
	case FormatAppGW, FormatGCP:
		if startsJSONDocument(head) {
			rd.doc = newJSONDoc(rd.in, f)
		} else if f == FormatAppGW {
			rd.parser = &appgwLineParser{}
		} else {
			rd.parser = gcpLineParser{}
		}
	case FormatALB:
		rd.parser = albLineParser{}
	case FormatNginx:
		rd.parser = nginxLineParser{}
	case FormatHAProxy:
		rd.parser = haproxyLineParser{}
	case FormatEnvoy:
		rd.parser = envoyLineParser{}
	default:
		return nil, fmt.Errorf("%s: unknown log format %q (want appgw|alb|nginx|haproxy|envoy|gcp)", name, f)
	}
	return rd, nil
}

// Format is the log's format (detected, or as given).
func (r *Reader) Format() Format { return r.format }

// Skipped counts the lines that could not be read as the format; blank
// lines and header or comment lines are not counted.
func (r *Reader) Skipped() int { return r.skipped }

// FirstSkipped is "file:line: why" of the first skipped line, "" if none.
func (r *Reader) FirstSkipped() string { return r.firstSkipped }

// BytesRead is how many bytes were consumed from the underlying reader
// (compressed bytes for a gzip file), for a progress bar.
func (r *Reader) BytesRead() int64 { return r.counter.n }

// Next returns the next Record, or io.EOF at the end. Lines that cannot be
// read as the format are counted (Skipped) and passed over; an error other
// than io.EOF is a read error of the underlying reader or of gzip.
func (r *Reader) Next() (Record, error) {
	for !r.done {
		if r.doc != nil {
			rec, err := r.nextFromDoc()
			if err == errNoRecord {
				continue
			}
			return rec, err
		}
		line, tooLong, err := r.readLine()
		if err != nil {
			r.done = true
			if errors.Is(err, io.EOF) {
				return Record{}, io.EOF
			}
			return Record{}, fmt.Errorf("%s:%d: %w", r.name, r.lineNo+1, err)
		}
		r.lineNo++
		if tooLong {
			r.skip(r.lineNo, fmt.Sprintf("line longer than %d bytes", maxLineBytes))
			continue
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			r.ignored++
			continue
		}
		rec, verdict, why := r.parser.parseLine(trimmed)
		switch verdict {
		case lineRecord:
			// A parser sets Line to how many lines before this one its
			// record began (a CSV field spanning lines), else 0.
			rec.File, rec.Line, rec.Format = r.name, r.lineNo-rec.Line, r.format
			r.records++
			return rec, nil
		case lineIgnored:
			r.ignored++
		default:
			r.skip(r.lineNo, why)
		}
	}
	return Record{}, io.EOF
}

// errNoRecord says a JSON document step produced no Record (an ignored or
// skipped element); Next goes on.
var errNoRecord = errors.New("no record")

func (r *Reader) nextFromDoc() (Record, error) {
	rec, verdict, why, line, err := r.doc.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			r.done = true
			return Record{}, io.EOF
		}
		var syntax *docSyntaxError
		if errors.As(err, &syntax) {
			// A broken JSON document cannot be resynchronised: the element
			// is skipped, and so is every non-blank line after it.
			r.skip(syntax.line, syntax.why)
			r.doc = nil
			r.parser = skipAllParser{}
			r.in = syntax.rest
			r.lineNo = syntax.line
			return Record{}, errNoRecord
		}
		r.done = true
		return Record{}, fmt.Errorf("%s: %w", r.name, err)
	}
	switch verdict {
	case lineRecord:
		rec.File, rec.Line, rec.Format = r.name, line, r.format
		r.records++
		return rec, nil
	case lineIgnored:
		r.ignored++
	default:
		r.skip(line, why)
	}
	return Record{}, errNoRecord
}

func (r *Reader) skip(line int, why string) {
	r.skipped++
	if r.firstSkipped == "" {
		r.firstSkipped = fmt.Sprintf("%s:%d: %s", r.name, line, why)
	}
}

// readLine reads one line without its end of line. A line longer than
// maxLineBytes is consumed to its end and reported as tooLong, so memory
// stays bounded whatever the input.
func (r *Reader) readLine() (line string, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := r.in.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLineBytes+2 { // +2: the "\r\n" is not the line's
			tooLong = true
			buf = buf[:0]
		} else if !tooLong {
			buf = append(buf, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, err
		}
		if err != nil && len(chunk) == 0 && len(buf) == 0 && !tooLong {
			return "", false, io.EOF
		}
		buf = bytes.TrimRight(buf, "\r\n")
		if len(buf) > maxLineBytes {
			tooLong = true
		}
		if tooLong {
			return "", true, nil
		}
		return string(buf), false, nil
	}
}

// skipAllParser skips every line: what follows a broken JSON document.
type skipAllParser struct{}

func (skipAllParser) parseLine(string) (Record, lineVerdict, string) {
	return Record{}, lineSkipped, "after a JSON syntax error"
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// startsJSONDocument reports whether the log is one JSON value spanning
// lines (an array, or a {"records": [...]} document, or a pretty-printed
// object) rather than one JSON object per line.
func startsJSONDocument(head []byte) bool {
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	trimmed = bytes.TrimPrefix(trimmed, []byte("\ufeff"))
	if len(trimmed) == 0 {
		return false
	}
	switch trimmed[0] {
	case '[':
		return true
	case '{':
		first, _, _ := bytes.Cut(trimmed, []byte("\n"))
		first = bytes.TrimSpace(first)
		// JSON lines: the first line is a whole object by itself; unless
		// it is the {"records": [...]} wrapper on one line.
		if isJSONObject(first) {
			return bytes.Contains(first, []byte(`"records"`)) && bytes.HasPrefix(bytes.TrimLeft(first[1:], " \t"), []byte(`"records"`))
		}
		return true
	}
	return false
}

// detect names the format of a log from its first non-empty lines, or ""
// when none of them looks like a supported format.
func detect(head []byte) Format {
	text := string(bytes.TrimPrefix(head, []byte("\ufeff")))
	trimmed := strings.TrimSpace(text)
	if strings.HasPrefix(trimmed, "[") || strings.HasPrefix(trimmed, "{") {
		lower := strings.ToLower(text)
		switch {
		case strings.Contains(lower, `"httprequest"`):
			return FormatGCP
		case strings.Contains(lower, `"httpstatus`), strings.Contains(lower, "applicationgatewayaccess"):
			return FormatAppGW
		}
		// An Envoy line starts with "[2026-...]": not JSON; go on below.
	}
	lines := strings.Split(text, "\n")
	if len(text) == detectBytes && len(lines) > 1 {
		lines = lines[:len(lines)-1] // the last one may be cut
	}
	tried := 0
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if f := detectLine(line); f != "" {
			return f
		}
		tried++
		if tried == detectLines {
			break
		}
	}
	return ""
}

func detectLine(line string) Format {
	lower := strings.ToLower(line)
	switch {
	case albLinePattern.MatchString(line):
		return FormatALB
	case nginxErrorPattern.MatchString(line), nginxAccessPattern.MatchString(line):
		return FormatNginx
	case envoyLinePattern.MatchString(line):
		return FormatEnvoy
	case haproxyPrefixPattern.MatchString(line):
		return FormatHAProxy
	case strings.Contains(lower, `"httprequest"`):
		return FormatGCP
	case strings.HasPrefix(line, "{") && strings.Contains(lower, `"httpstatus`):
		return FormatAppGW
	case strings.Contains(line, ",") && strings.Contains(lower, "httpstatus"):
		return FormatAppGW // the AGWAccessLogs (or AzureDiagnostics) CSV header
	}
	return ""
}

// decodeJSONLine decodes one line holding one JSON value, numbers kept as
// json.Number; anything after the value is an error.
func decodeJSONLine(line string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var value any
	if err := dec.Decode(&value); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more after the JSON value")
	}
	return value, nil
}

// isJSONObject reports whether b is one whole JSON object.
func isJSONObject(b []byte) bool {
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// jsonDoc streams the objects of a JSON document that spans lines: a top-level
// array (the Log Analytics export, `gcloud logging read --format=json`), a
// {"records": [...]} document (Azure storage's PT1H.json), a pretty-printed
// object, or several of them in a row. One element is decoded at a time.
type jsonDoc struct {
	format Format
	lines  *lineCounter
	dec    *json.Decoder

	state      docState
	object     map[string]any // the top-level object being read key by key
	objectLine int
	sawRecords bool
}

type docState int

const (
	docTop     docState = iota // between top-level values
	docArray                   // in a top-level array
	docObject                  // in a top-level object, between keys
	docRecords                 // in the "records" array of a top-level object
)

// docSyntaxError ends a JSON document: what follows it (rest) is read as
// lines and skipped.
type docSyntaxError struct {
	line int
	why  string
	rest *bufio.Reader // from the line after the error's
}

func (e *docSyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.why) }

func newJSONDoc(r io.Reader, f Format) *jsonDoc {
	lines := &lineCounter{r: r}
	dec := json.NewDecoder(lines)
	dec.UseNumber()
	return &jsonDoc{format: f, lines: lines, dec: dec}
}

// next returns the next element's Record (or verdict) and its first line.
func (d *jsonDoc) next() (Record, lineVerdict, string, int, error) {
	for {
		switch d.state {
		case docTop:
			tok, err := d.dec.Token()
			if err != nil {
				return d.fail(err)
			}
			switch tok {
			case json.Delim('['):
				d.state = docArray
			case json.Delim('{'):
				d.state, d.object, d.sawRecords = docObject, map[string]any{}, false
				d.objectLine = d.lines.lineAt(d.dec.InputOffset() - 1)
			default:
				return Record{}, lineSkipped, fmt.Sprintf("a JSON %T where an object or array was expected", tok), d.lines.lineAt(d.dec.InputOffset()), nil
			}
		case docArray, docRecords:
			if !d.dec.More() {
				if _, err := d.dec.Token(); err != nil { // the ']'
					return d.fail(err)
				}
				if d.state == docRecords {
					d.state = docObject
				} else {
					d.state = docTop
				}
				continue
			}
			var raw json.RawMessage
			if err := d.dec.Decode(&raw); err != nil {
				return d.fail(err)
			}
			line := d.lines.lineAt(d.dec.InputOffset() - int64(len(raw)))
			var value any
			vd := json.NewDecoder(bytes.NewReader(raw))
			vd.UseNumber()
			if err := vd.Decode(&value); err != nil {
				return Record{}, lineSkipped, "bad JSON: " + err.Error(), line, nil
			}
			rec, verdict, why := recordFromJSON(d.format, value)
			return rec, verdict, why, line, nil
		case docObject:
			if !d.dec.More() {
				if _, err := d.dec.Token(); err != nil { // the '}'
					return d.fail(err)
				}
				d.state = docTop
				if d.sawRecords {
					continue
				}
				rec, verdict, why := recordFromJSON(d.format, d.object)
				return rec, verdict, why, d.objectLine, nil
			}
			tok, err := d.dec.Token()
			if err != nil {
				return d.fail(err)
			}
			key, _ := tok.(string)
			if strings.EqualFold(key, "records") {
				d.sawRecords = true
				tok, err := d.dec.Token()
				if err != nil {
					return d.fail(err)
				}
				if tok != json.Delim('[') {
					return d.fail(errRecordsNotArray)
				}
				d.state = docRecords
				continue
			}
			var value any
			if err := d.dec.Decode(&value); err != nil {
				return d.fail(err)
			}
			d.object[key] = value
		}
	}
}

// fail ends the document: io.EOF between top-level values, a read error
// as it is, anything else a docSyntaxError whose rest starts on the line
// after the error.
func (d *jsonDoc) fail(err error) (Record, lineVerdict, string, int, error) {
	if errors.Is(err, io.EOF) && d.state == docTop {
		return Record{}, 0, "", 0, io.EOF
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	at := d.dec.InputOffset()
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		// Offset is near the error in the stream (measured: within a few
		// bytes before it); never before where the decoder stands.
		at = max(at, syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &typeErr), errors.Is(err, errRecordsNotArray):
	default:
		return Record{}, 0, "", 0, err // a read error, not the document's fault
	}
	buffered, _ := io.ReadAll(d.dec.Buffered())
	restStart := d.lines.offset - int64(len(buffered))
	rest := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(buffered), d.lines), detectBytes)
	line := d.lines.lineAt(at)
	if skip := at - restStart; skip >= 0 {
		// Drop the rest of the error's line: it is the skipped element.
		_, _ = rest.Discard(int(min(skip, int64(len(buffered)))))
		for {
			_, err := rest.ReadSlice('\n')
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
	}
	return Record{}, 0, "", 0, &docSyntaxError{line: line, why: "bad JSON: " + err.Error(), rest: rest}
}

// errRecordsNotArray: a {"records": ...} document whose records are not an array.
var errRecordsNotArray = errors.New(`"records" is not an array`)

// recordFromJSON makes a Record of one decoded JSON value of the format.
func recordFromJSON(f Format, value any) (Record, lineVerdict, string) {
	obj, ok := value.(map[string]any)
	if !ok {
		return Record{}, lineSkipped, fmt.Sprintf("a JSON %s where an object was expected", jsonKind(value))
	}
	if f == FormatGCP {
		return recordFromGCPEntry(obj)
	}
	return recordFromAppGWObject(obj)
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

// lineCounter counts the lines a JSON decoder reads past, so an element can
// be given the line it starts on. It keeps only the offsets of newlines not
// yet asked about, a bounded number (the decoder's read-ahead).
type lineCounter struct {
	r        io.Reader
	offset   int64
	newlines []int64
	passed   int
}

func (l *lineCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			break
		}
		l.newlines = append(l.newlines, l.offset+int64(i+j))
		i += j + 1
	}
	l.offset += int64(n)
	return n, err
}

// lineAt is the 1-based line of byte offset off; offsets asked about must
// not decrease.
func (l *lineCounter) lineAt(off int64) int {
	i := 0
	for i < len(l.newlines) && l.newlines[i] < off {
		i++
	}
	l.passed += i
	l.newlines = l.newlines[i:]
	return l.passed + 1
}

// jsonString renders a decoded JSON scalar as text ("" for null, objects
// and arrays): Azure writes the same field as a number in one record and
// a string in the next.
func jsonString(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return string(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// field is one token of a space-separated log line: a bare word, a "quoted
// string" (unescaped), a [bracketed] or a {braced} group, without its
// delimiters.
type field struct {
	text string
	kind byte // 0 bare, '"', '[' or '{'
}

// splitFields splits a log line into fields. An unterminated quote or
// bracket runs to the end of the line.
func splitFields(line string) []field {
	var fields []field
	for i := 0; i < len(line); {
		c := line[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		switch c {
		case '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				b.WriteByte(line[j])
			}
			fields = append(fields, field{b.String(), '"'})
			i = j + 1
		case '[', '{':
			end := byte(']')
			if c == '{' {
				end = '}'
			}
			j := strings.IndexByte(line[i+1:], end)
			if j < 0 {
				fields = append(fields, field{line[i+1:], c})
				i = len(line)
				continue
			}
			fields = append(fields, field{line[i+1 : i+1+j], c})
			i += j + 2
		default:
			j := strings.IndexAny(line[i:], " \t")
			if j < 0 {
				j = len(line) - i
			}
			fields = append(fields, field{line[i : i+j], 0})
			i += j
		}
	}
	return fields
}

// newRecord is a Record with every "unknown" number set so.
func newRecord() Record {
	return Record{Duration: -1, UpstreamDuration: -1, ReceivedBytes: -1, SentBytes: -1}
}

// maxSeconds bounds a logged duration; a larger one is garbage.
const maxSeconds = 1e7

// parseSeconds reads a duration in (fractional) seconds; ok is false for
// "-", negative values (ALB's -1: none) and garbage.
func parseSeconds(s string) (time.Duration, bool) {
	return parseScaled(strings.TrimSuffix(s, "s"), float64(time.Second))
}

// parseMillis reads a duration in milliseconds.
func parseMillis(s string) (time.Duration, bool) {
	return parseScaled(s, float64(time.Millisecond))
}

func parseScaled(s string, unit float64) (time.Duration, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "+")
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsNaN(v) || v*unit/float64(time.Second) > maxSeconds {
		return -1, false
	}
	return time.Duration(math.Round(v * unit)), true
}

// parseStatus reads an HTTP status; 0 for "-", garbage or out of range.
func parseStatus(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 100 || n > 999 {
		return 0
	}
	return n
}

// parseBytes reads a byte count; -1 when unknown.
func parseBytes(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(s), "+"), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// portOf is the port of "host:port" (or of a URL with one), 0 if none.
func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return 0
	}
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil || p <= 0 || p > 65535 {
		return 0
	}
	return p
}

// splitRequestLine splits "GET /path HTTP/1.1" into method and URI.
func splitRequestLine(s string) (method, uri string) {
	parts := strings.Fields(s)
	switch {
	case len(parts) >= 2:
		return parts[0], parts[1]
	case len(parts) == 1:
		return parts[0], ""
	}
	return "", ""
}
