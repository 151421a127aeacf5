package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func versionString() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("gwsim %s (%s %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("version", "", "Print the version.", "  gwsim version\n")
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
