package report

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/gwsim/gwsim/scenarios/explain"
)

// Explain writes, for each analysis, the cause counts, the story of the
// first max failures the client saw (and of races the retry policy hid),
// and the verdict with its fix.
func Explain(w io.Writer, name string, a *explain.Analysis, max int) {
	fmt.Fprintf(w, "%s:\n", name)
	if len(a.Causes) > 0 {
		fmt.Fprintf(w, "  causes:")
		for _, k := range slices.Sorted(maps.Keys(a.Causes)) {
			fmt.Fprintf(w, " %s %d", k, a.Causes[k])
		}
		if len(a.Subkinds) > 0 {
			fmt.Fprintf(w, " (")
			for i, k := range slices.Sorted(maps.Keys(a.Subkinds)) {
				if i > 0 {
					fmt.Fprint(w, ", ")
				}
				fmt.Fprintf(w, "%s %d", k, a.Subkinds[k])
			}
			fmt.Fprintf(w, ")")
		}
		fmt.Fprintln(w)
	}
	shown, hidden := 0, 0
	for i := range a.Explanations {
		x := &a.Explanations[i]
		if x.Retried {
			hidden++
			if hidden > 2 {
				continue
			}
		} else {
			shown++
			if shown > max {
				continue
			}
		}
		fmt.Fprintf(w, "  - %s\n", x.Story(a.Start))
	}
	if shown > max {
		fmt.Fprintf(w, "  (%d more)\n", shown-max)
	}
	fmt.Fprintf(w, "  verdict: %s\n", a.Verdict())
}
