package gwlog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReader reads arbitrary bytes as each format and as auto: no panic,
// Next ends, and, for line-oriented input, every non-blank line is a
// Record, skipped, or a well-formed line about no request (a header, a
// comment, a non-request event), each exactly once.
func FuzzReader(f *testing.F) {
	seeds := []string{
		`{"timeStamp":"2026-12-02T15:00:07+00:00","category":"ApplicationGatewayAccessLog","properties":{"instanceId":"a","httpStatus":"502","timeTaken":"0.002","serverRouted":"10.0.0.4:80","serverStatus":"-","upstreamSourcePort":"1","error_info":"ERRORINFO_UPSTREAM_CLOSED_CONNECTION"}}`,
		"TimeGenerated,HttpStatus,TimeTaken\n2026-12-02T15:00:00Z,502,0.1\n\"x\ny\",200,1",
		`{"records":[{"time":"2026-12-02T15:00:00Z","properties":{"httpStatus":200}}]}`,
		`http 2026-12-02T15:00:10.004000Z app/lb/1 1.2.3.4:5 10.0.0.1:80 0.000 -1 -1 502 - 120 272 "POST http://x/ HTTP/1.1" "ua" - - arn "Root=1" "-" "-" 0 2026-12-02T15:00:10.001000Z "forward" "-" "-"`,
		`2026/12/02 15:00:05 [error] 29#29: *5 upstream prematurely closed connection while reading response header from upstream, client: 127.0.0.1, server: _, request: "GET /x HTTP/1.1", upstream: "http://127.0.0.1:8081/x", host: "h"`,
		`127.0.0.1 - - [02/Dec/2026:15:00:05 +0000] "GET /x HTTP/1.1" 502 157 "-" "curl" 127.0.0.1:8081, 127.0.0.1:8082 502, 200 0.001, 0.004 0.006`,
		`Dec  2 15:00:00 h haproxy[1]: 10.0.1.2:33318 [02/Dec/2026:15:00:05.001] fe app/srv1 0/0/0/-1/2 502 209 - - SH-- 1/1/0/0/0 0/0 {a} "POST /api HTTP/1.1" bi=10.0.0.2 bp=41234`,
		`[2026-12-02T15:00:05.000Z] "GET /x HTTP/1.1" 503 UC 0 95 2 - "-" "curl" "id" "h" "127.0.0.1:8081" "127.0.0.1:50312"`,
		"[\n{\"httpRequest\":{\"status\":502},\"jsonPayload\":{\"statusDetails\":\"backend_timeout\"},\"timestamp\":\"2026-12-02T15:00:05Z\"},\n3\n]",
		"\x1f\x8bgarbage",
		"# comment\n\n\"unterminated\n[",
	}
	// Each seed as auto (0) and as its own format.
	seedFormats := []uint8{1, 1, 1, 2, 3, 3, 4, 5, 6, 2, 3}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), seedFormats[i])
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		format := Formats[int(which)%len(Formats)]
		r, err := NewReader(bytes.NewReader(data), "fuzz", format)
		if err != nil {
			return // auto-detection may fail; a bad gzip header may too
		}
		lineMode := r.doc == nil && !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) && !r.done
		var records int
		for i := 0; ; i++ {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				lineMode = false
				break
			}
			records++
			if rec.Line < 1 || rec.File != "fuzz" {
				t.Fatalf("record %+v has no place", rec)
			}
			if rec.Class != ClassOK && rec.Class != ClassRaceLikely && rec.Class != ClassBackendTimeout &&
				rec.Class != ClassNoBackend && rec.Class != ClassOther {
				t.Fatalf("class %q", rec.Class)
			}
			if i > len(data)+1 {
				t.Fatal("more records than bytes")
			}
		}
		if r.Skipped() > 0 && r.FirstSkipped() == "" {
			t.Fatal("skipped lines without FirstSkipped")
		}
		if !lineMode || r.doc != nil {
			return
		}
		nonBlank := 0
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) != "" {
				nonBlank++
			}
		}
		if got := records + r.Skipped() + r.ignored; got != nonBlank {
			t.Fatalf("%d records + %d skipped + %d ignored = %d, want %d non-blank lines", records, r.Skipped(), r.ignored, got, nonBlank)
		}
	})
}
