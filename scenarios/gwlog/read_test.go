package gwlog

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// want is what a test expects of one fixture line's Record.
type want struct {
	line   int
	class  Class
	status int
	time   string // RFC 3339 in UTC, to the millisecond
	conn   string
}

// readAll reads every Record of r.
func readAll(t *testing.T, r *Reader) []Record {
	t.Helper()
	var recs []Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		recs = append(recs, rec)
	}
}

func openFixture(t *testing.T, name string, f Format) *Reader {
	t.Helper()
	file, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	r, err := NewReader(file, name, f)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	return r
}

// checkFixture reads a fixture and compares each Record with wants, in
// order, and the skipped lines.
func checkFixture(t *testing.T, name string, f Format, wants []want, skipped int, firstSkipped string) []Record {
	t.Helper()
	r := openFixture(t, name, f)
	recs := readAll(t, r)
	if len(recs) != len(wants) {
		for _, rec := range recs {
			t.Logf("line %d: %s %d %s", rec.Line, rec.Class, rec.Status, rec.Evidence)
		}
		t.Fatalf("%s: %d records, want %d", name, len(recs), len(wants))
	}
	for i, w := range wants {
		rec := recs[i]
		if rec.Line != w.line || rec.Class != w.class || rec.Status != w.status || rec.Conn != w.conn {
			t.Errorf("%s record %d: line %d class %q status %d conn %q, want line %d class %q status %d conn %q (evidence %q)",
				name, i, rec.Line, rec.Class, rec.Status, rec.Conn, w.line, w.class, w.status, w.conn, rec.Evidence)
		}
		if got := rec.Time.UTC().Format("2006-01-02T15:04:05.000Z"); got != w.time {
			t.Errorf("%s line %d: time %s, want %s", name, rec.Line, got, w.time)
		}
		if rec.File != name || rec.Format != r.Format() {
			t.Errorf("%s line %d: file %q format %q", name, rec.Line, rec.File, rec.Format)
		}
		if rec.Failed() && rec.Evidence == "" {
			t.Errorf("%s line %d: class %s without evidence", name, rec.Line, rec.Class)
		}
	}
	if r.Skipped() != skipped || r.FirstSkipped() != firstSkipped {
		t.Errorf("%s: skipped %d, first %q; want %d, %q", name, r.Skipped(), r.FirstSkipped(), skipped, firstSkipped)
	}
	return recs
}

func TestDetect(t *testing.T) {
	tests := []struct {
		file string
		want Format
	}{
		{"appgw-v2.jsonl", FormatAppGW},
		{"appgw-records.json", FormatAppGW},
		{"appgw-agwaccesslogs.csv", FormatAppGW},
		{"appgw-agwaccesslogs.json", FormatAppGW},
		{"alb.log", FormatALB},
		{"alb.log.gz", FormatALB},
		{"nginx-error.log", FormatNginx},
		{"nginx-access.log", FormatNginx},
		{"haproxy.log", FormatHAProxy},
		{"envoy.log", FormatEnvoy},
		{"gcp.json", FormatGCP},
		{"gcp.jsonl", FormatGCP},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := openFixture(t, tt.file, FormatAuto)
			if r.Format() != tt.want {
				t.Fatalf("format %q, want %q", r.Format(), tt.want)
			}
			// Detection peeks: the first record is still there.
			recs := readAll(t, r)
			if len(recs) == 0 || recs[0].Line > 3 {
				t.Fatalf("detection consumed the start: %d records", len(recs))
			}
		})
	}
}

func TestDetectUnknown(t *testing.T) {
	_, err := NewReader(strings.NewReader("hello\nworld\n"), "x.log", FormatAuto)
	want := "x.log: cannot tell the log format from its first lines (want --format appgw|alb|nginx|haproxy|envoy|gcp)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := NewReader(strings.NewReader("x\n"), "x.log", "iis"); err == nil {
		t.Fatal("no error for an unknown format")
	}
}

// A detected format with the wrong --format: every line skipped, none a
// Record, nothing panics.
func TestWrongFormat(t *testing.T) {
	r := openFixture(t, "envoy.log", FormatALB)
	if recs := readAll(t, r); len(recs) != 0 {
		t.Fatalf("%d records from an Envoy log read as ALB", len(recs))
	}
	if r.Skipped() != 9 || !strings.HasPrefix(r.FirstSkipped(), "envoy.log:1: ") {
		t.Fatalf("skipped %d, first %q", r.Skipped(), r.FirstSkipped())
	}
}

func TestEmpty(t *testing.T) {
	for _, f := range Formats {
		for _, input := range []string{"", "\n\n  \n"} {
			r, err := NewReader(strings.NewReader(input), "empty.log", f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if recs := readAll(t, r); len(recs) != 0 || r.Skipped() != 0 || r.FirstSkipped() != "" {
				t.Fatalf("%s: %d records, %d skipped from an empty log", f, len(recs), r.Skipped())
			}
		}
	}
}

func TestGzip(t *testing.T) {
	plain := openFixture(t, "alb.log", FormatAuto)
	zipped := openFixture(t, "alb.log.gz", FormatAuto)
	a, b := readAll(t, plain), readAll(t, zipped)
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%d records plain, %d gzipped", len(a), len(b))
	}
	for i := range a {
		b[i].File = a[i].File
		if a[i] != b[i] {
			t.Fatalf("record %d: plain %+v, gzipped %+v", i, a[i], b[i])
		}
	}
	if zipped.Skipped() != plain.Skipped() {
		t.Fatalf("skipped %d gzipped, %d plain", zipped.Skipped(), plain.Skipped())
	}
}

func TestLongLine(t *testing.T) {
	envoy, err := os.ReadFile(filepath.Join("testdata", "envoy.log"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(envoy), "\n")
	long := `[2026-12-02T15:00:05.000Z] "GET /` + strings.Repeat("a", 2<<20) + ` HTTP/1.1" 200 - 0 1 1 - "-" "-" "-" "-" "-"`
	input := first + "\n" + long + "\n" + first + "\n" + long // the last without a newline
	r, err := NewReader(strings.NewReader(input), "long.log", FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, r)
	if len(recs) != 2 || recs[0].Line != 1 || recs[1].Line != 3 {
		t.Fatalf("records %d, want lines 1 and 3", len(recs))
	}
	if r.Skipped() != 2 || r.FirstSkipped() != "long.log:2: line longer than 1048576 bytes" {
		t.Fatalf("skipped %d, first %q", r.Skipped(), r.FirstSkipped())
	}
	if r.BytesRead() != int64(len(input)) {
		t.Fatalf("BytesRead %d, want %d", r.BytesRead(), len(input))
	}
}

// A line just under the cap is read.
func TestLineAtCap(t *testing.T) {
	prefix := `[2026-12-02T15:00:05.000Z] "GET /`
	suffix := ` HTTP/1.1" 200 - 0 1 1 - "-" "-" "-" "-" "-"`
	line := prefix + strings.Repeat("a", maxLineBytes-len(prefix)-len(suffix)) + suffix
	r, err := NewReader(strings.NewReader(line+"\r\n"), "cap.log", FormatEnvoy)
	if err != nil {
		t.Fatal(err)
	}
	if recs := readAll(t, r); len(recs) != 1 || r.Skipped() != 0 {
		t.Fatalf("%d records, %d skipped (%s)", len(recs), r.Skipped(), r.FirstSkipped())
	}
}

func TestBytesReadGzip(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "alb.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(data), "alb.log.gz", FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, r)
	if r.BytesRead() != int64(len(data)) {
		t.Fatalf("BytesRead %d, want the compressed size %d", r.BytesRead(), len(data))
	}
}

func TestBadGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(strings.Repeat("http 2026-12-02T15:00:00Z x\n", 1000)))
	zw.Close()
	cut := buf.Bytes()[:buf.Len()/2]
	r, err := NewReader(bytes.NewReader(cut), "cut.log.gz", FormatALB)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("a truncated gzip read to a clean EOF")
		}
		if err != nil {
			break
		}
		if i > 2000 {
			t.Fatal("no error")
		}
	}
}

// A broken JSON document: the element is skipped, and each line after it.
func TestJSONDocumentSyntaxError(t *testing.T) {
	input := "[\n" +
		`{"httpRequest": {"status": 200, "latency": "0.1s"}, "timestamp": "2026-12-02T15:00:00Z"},` + "\n" +
		`{"httpRequest": {"status": 502 "latency": "0.1s"}, "timestamp": "2026-12-02T15:00:01Z"},` + "\n" +
		`{"httpRequest": {"status": 200}, "timestamp": "2026-12-02T15:00:02Z"}` + "\n" +
		"]\n"
	r, err := NewReader(strings.NewReader(input), "broken.json", FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, r)
	if len(recs) != 1 || recs[0].Line != 2 {
		t.Fatalf("%d records", len(recs))
	}
	if r.Skipped() != 3 || !strings.HasPrefix(r.FirstSkipped(), "broken.json:3: bad JSON: ") {
		t.Fatalf("skipped %d, first %q", r.Skipped(), r.FirstSkipped())
	}
}

func TestRecordTimes(t *testing.T) {
	// End is the gateway's completion: for AppGW, the logged timeStamp.
	recs := checkFixture(t, "appgw-v2.jsonl", FormatAppGW, appgwV2Wants, 2, appgwV2FirstSkipped)
	end, ok := recs[1].End()
	if !ok || !end.Equal(time.Date(2026, 12, 2, 15, 0, 7, 0, time.UTC)) {
		t.Fatalf("End %v %v, want the logged timeStamp", end, ok)
	}
}

// A byte order mark (Windows exports) is not part of the first line.
func TestByteOrderMark(t *testing.T) {
	for _, input := range []string{
		"\ufeffTimeGenerated,HttpStatus,TimeTaken\n2026-12-02T15:00:00Z,502,0.1\n",
		"\ufeff[{\"TimeGenerated\":\"2026-12-02T15:00:00Z\",\"HttpStatus\":502,\"TimeTaken\":0.1}]",
		"\ufeff{\"time\":\"2026-12-02T15:00:00Z\",\"properties\":{\"httpStatus\":502,\"timeTaken\":0.1}}\n",
	} {
		r, err := NewReader(strings.NewReader(input), "bom", FormatAuto)
		if err != nil {
			t.Fatal(err)
		}
		if recs := readAll(t, r); len(recs) != 1 || recs[0].Status != 502 || r.Skipped() != 0 {
			t.Fatalf("%q: %d records, skipped %d (%s)", input, len(recs), r.Skipped(), r.FirstSkipped())
		}
	}
}
