package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// chromium is where Debian's chromium package puts the browser.
const chromium = "/usr/bin/chromium"

// TestTimelinePNG renders the race golden SVG in headless Chromium and
// checks the picture is a chart, not an empty canvas: several colours, a
// fair share of drawn pixels, and red where the 502s are. It skips without
// Chromium, except in CI (CI=true), where the browser must be installed.
// GWSIM_TIMELINE_PNG=path keeps the PNG to look at.
func TestTimelinePNG(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing in CI (apt-get install -y chromium): %v", chromium, err)
		}
		t.Skipf("%s missing; apt-get install -y chromium to run this test", chromium)
	}
	svg, err := filepath.Abs(filepath.Join("testdata", "race.svg"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	d := parseSVG(t, src)
	w, h := int(d.width), int(d.height)

	dir := t.TempDir()
	out := filepath.Join(dir, "race.png")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+out, "--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h),
		"file://"+filepath.ToSlash(svg))
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 2000))
	}
	t.Logf("chromium rendered %dx%d in %v", w, h, time.Since(start).Round(time.Millisecond))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, tail(stderr.String(), 2000))
	}
	if keep := os.Getenv("GWSIM_TIMELINE_PNG"); keep != "" {
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	if got := img.Bounds().Size(); got != image.Pt(w, h) {
		t.Errorf("PNG is %v, want %dx%d", got, w, h)
	}
	st := pixelStats(img)
	t.Logf("%d distinct colours, %.1f%% drawn, %d red pixels, %d purple", st.colours, 100*st.drawn, st.red, st.purple)
	if st.colours < 4 {
		t.Errorf("%d distinct colours, want ≥ 4", st.colours)
	}
	if st.drawn < 0.01 {
		t.Errorf("%.2f%% of pixels drawn, want > 1%%", 100*st.drawn)
	}
	if st.red < 50 {
		t.Errorf("%d red pixels, want ≥ 50 (the failed request and its 502 mark)", st.red)
	}
	if st.purple < 50 {
		t.Errorf("%d purple pixels, want ≥ 50 (the race inset)", st.purple)
	}
}

type stats struct {
	colours     int
	drawn       float64 // share of pixels that are not the white background
	red, purple int
}

func pixelStats(img image.Image) stats {
	var s stats
	seen := map[uint32]bool{}
	b := img.Bounds()
	drawn := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r16, g16, b16, _ := img.At(x, y).RGBA()
			r, g, bl := r16>>8, g16>>8, b16>>8
			seen[r<<16|g<<8|bl] = true
			if r < 245 || g < 245 || bl < 245 {
				drawn++
			}
			switch {
			case r > 170 && g < 80 && bl < 80:
				s.red++
			case r > 90 && r < 160 && g < 80 && bl > 120:
				s.purple++
			}
		}
	}
	s.colours = len(seen)
	s.drawn = float64(drawn) / float64(b.Dx()*b.Dy())
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
