package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/gwsim/gwsim/scenarios/event"
	"github.com/gwsim/gwsim/scenarios/explain"
	"github.com/gwsim/gwsim/scenarios/gwlog"
	"github.com/gwsim/gwsim/scenarios/report"
)

// eventJournal is a journal file.
type eventJournal struct {
	*event.Journal
	f *os.File
}

func openJournal(path string) (*eventJournal, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("events journal: %w", err)
	}
	return &eventJournal{Journal: event.NewJournal(f), f: f}, nil
}

// Close flushes and closes the file.
func (j *eventJournal) Close() error {
	err := j.Flush()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("events journal %s: %w", j.f.Name(), err)
	}
	return nil
}

func cmdExplain(_ context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("explain", "[flags] JOURNAL.jsonl|CAPTURE.pcap ...",
		`Read event journals or packet captures and explain every failure in them:
which connection, idle how long, who closed first and how far apart, and the
verdict with its fix. Journals come from 'gwsim run --events', or from
standalone 'gwsim proxy --events' and 'gwsim backend --events' processes on one
host: gateway and backend events are joined by the TCP 4-tuple. Captures are
pcap or pcapng files (recognised by their magic) taken with tcpdump on the
backend, the gateway or any host of the path: each TCP connection's HTTP/1.1
exchanges and each side's FIN or RST; a failure on a reused connection is
called the keep-alive race only when its idle age fits the backend's close
(told by the cluster of the failures' idle ages). With --access-log, a
capture's failures are joined to the gateway's own log lines (Application
Gateway's upstreamSourcePort, HAProxy's %bp: the capture's client port),
which say what the client was sent.`,
		`  gwsim run appgw-v2-apache-default --events run.jsonl && gwsim explain run.jsonl
  gwsim explain gateway.jsonl backend.jsonl
  gwsim explain --max 10 --timeline race.svg gateway.jsonl backend.jsonl
  tcpdump -i any -w backend.pcap 'tcp port 8081' & ...; gwsim explain --json backend.pcap
  gwsim explain backend.pcap --access-log appgw-access.json
`)
	max := c.fs.Int("max", 5, "stories per scenario")
	timeline := c.fs.String("timeline", "", "also draw the connections as an SVG timeline to this file")
	jsonOut := c.fs.Bool("json", false, "print causes and every explanation as JSON")
	accessLogs := c.fs.StringArray("access-log", nil, "the gateway's access log to join to the captures (repeatable; formats as gwsim logs reads them, gzip accepted)")
	accessFormat := c.fs.String("access-log-format", "auto", "the access log's format (as gwsim logs --format)")
	keepAlive := c.fs.Duration("backend-keepalive", 0, "the backend's idle keep-alive, when the evidence does not state it (a capture, a gateway's journal alone): a failure on a reused connection idle about this long is the race (measure it with gwsim probe)")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	if c.fs.NArg() == 0 {
		code, _ := c.usageError(stderr, "give at least one journal or capture file")
		return code
	}
	var all []event.Event
	var captureNames []string
	var captures []*explain.Analysis
	for _, path := range c.fs.Args() {
		f, err := os.Open(path)
		if err != nil {
			code, _ := c.usageError(stderr, err.Error())
			return code
		}
		head := make([]byte, 4)
		n, _ := io.ReadFull(f, head)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			code, _ := c.usageError(stderr, fmt.Sprintf("%s: %v", path, err))
			return code
		}
		if explain.IsCapture(head[:n]) {
			in, done := withProgress(f, path, stderr)
			ev, err := explain.FromCapture(in)
			done()
			f.Close()
			if err != nil {
				fmt.Fprintf(stderr, "gwsim explain: %s: %v\n", path, err)
				return exitRuntime
			}
			if *keepAlive > 0 {
				ev.Backend = explain.BackendSettings{Known: true, KeepAlive: *keepAlive}
			}
			captureNames, captures = append(captureNames, path), append(captures, explain.Explain(ev))
			continue
		}
		evs, err := event.Read(f)
		f.Close()
		if err != nil {
			code, _ := c.usageError(stderr, fmt.Sprintf("%s: %v", path, err))
			return code
		}
		all = append(all, evs...)
	}
	groups := map[string][]event.Event{}
	for _, e := range all {
		groups[e.Scenario] = append(groups[e.Scenario], e)
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	var analyses []*explain.Analysis
	for i, n := range names {
		ev := explain.FromEvents(groups[n])
		if *keepAlive > 0 && !ev.Backend.Known {
			ev.Backend = explain.BackendSettings{Known: true, KeepAlive: *keepAlive}
		}
		analyses = append(analyses, explain.Explain(ev))
		if n == "" {
			names[i] = "standalone actors"
		}
	}
	if len(*accessLogs) > 0 {
		if len(captures) == 0 {
			code, _ := c.usageError(stderr, "--access-log joins a capture's failures to the gateway's log: give a capture too")
			return code
		}
		recs, err := readAccessLogs(*accessLogs, gwlog.Format(*accessFormat), stderr)
		if err != nil {
			fmt.Fprintf(stderr, "gwsim explain: %v\n", err)
			return exitRuntime
		}
		for i, a := range captures {
			st := a.JoinAccessLog(recs, accessLogSlack)
			if !*jsonOut {
				fmt.Fprintf(stdout, "%s joined to the access log: %d of its failures matched a log line, %d did not; %d of the log's %d failures with a source port matched none\n",
					captureNames[i], st.Joined, st.UnjoinedExplanations, st.LogFailuresUnjoined, st.LogFailures)
				for _, r := range st.Unjoined {
					fmt.Fprintf(stdout, "  not in the capture: %s:%d %d (source port %d, %s)\n", r.File, r.Line, r.Status, r.SourcePort, r.Time.UTC().Format("15:04:05.000"))
				}
			}
		}
	}
	names, analyses = append(names, captureNames...), append(analyses, captures...)
	if *jsonOut {
		if err := report.ExplainJSON(stdout, names, analyses); err != nil {
			return exitRuntime
		}
	} else {
		for i, a := range analyses {
			report.Explain(stdout, names[i], a, *max)
		}
	}
	if *timeline != "" {
		if err := writeTimeline(*timeline, names, analyses); err != nil {
			fmt.Fprintf(stderr, "gwsim explain: %v\n", err)
			return exitRuntime
		}
	}
	return exitOK
}

// writeTimeline draws the first analysis with failures (else the first).
func writeTimeline(path string, names []string, analyses []*explain.Analysis) error {
	if len(analyses) == 0 {
		return fmt.Errorf("timeline: no events")
	}
	pick := 0
	for i, a := range analyses {
		if len(a.Explanations) > 0 {
			pick = i
			break
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	if err := report.Timeline(f, names[pick], analyses[pick]); err != nil {
		f.Close()
		return fmt.Errorf("timeline: %w", err)
	}
	return f.Close()
}

// accessLogSlack is how far apart the capture's clock and the gateway's
// log may put one request: the log's seconds are rounded to the
// millisecond, and the capture may be taken on another host.
const accessLogSlack = time.Second

// readAccessLogs reads the failures of the gateway's access logs that
// name their source port: the only lines a capture can be joined to.
func readAccessLogs(paths []string, f gwlog.Format, stderr io.Writer) ([]gwlog.Record, error) {
	if !validFormat(f) {
		return nil, fmt.Errorf("--access-log-format: unknown format %q", f)
	}
	var out []gwlog.Record
	keep := func(rec gwlog.Record) {
		if rec.Failed() && rec.SourcePort > 0 {
			out = append(out, rec)
		}
	}
	for _, path := range paths {
		if _, err := readLog(path, f, stderr, func(gwlog.Format) func(gwlog.Record) { return keep }); err != nil {
			return nil, err
		}
	}
	return out, nil
}
