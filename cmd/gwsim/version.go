package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; it
// wins over the module version of the build information.
var version = ""

// versionString is the one line `gwsim version` and `gwsim --version`
// print, from the binary's build information.
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(version, bi)
}

// formatVersion is
//
//	gwsim v1.2.3 (commit 0123456789ab-dirty, 2026-01-02T03:04:05Z; go1.26 linux/amd64)
//
// from the -X version (override, "" = none) and the build information bi
// (nil = none): the module version (devel when there is none, as in a
// `go run` or a test binary), the VCS revision (vcs.revision, with -dirty
// when vcs.modified is true) and the commit time (vcs.time). The Go version
// and platform are the running binary's.
func formatVersion(override string, bi *debug.BuildInfo) string {
	v := override
	goVersion := runtime.Version()
	var rev, at string
	dirty := false
	if bi != nil {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	var parts []string
	if rev != "" {
		c := "commit " + rev
		if dirty {
			c += "-dirty"
		}
		parts = append(parts, c)
	}
	if at != "" {
		parts = append(parts, at)
	}
	platform := fmt.Sprintf("%s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	if len(parts) == 0 {
		return fmt.Sprintf("gwsim %s (%s)", v, platform)
	}
	return fmt.Sprintf("gwsim %s (%s; %s)", v, strings.Join(parts, ", "), platform)
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("version", "", `Print the version: the module version (devel for a build from a work tree
without a tag), the commit it was built from (-dirty when the work tree had
changes), the commit's time, and the Go version and platform. The same as
gwsim --version.`, "  gwsim version\n  gwsim --version\n")
	if code, done := c.parse(args, stdout, stderr); done {
		return code
	}
	if c.fs.NArg() > 0 {
		code, _ := c.usageError(stderr, "takes no arguments")
		return code
	}
	fmt.Fprintln(stdout, versionString())
	return exitOK
}
