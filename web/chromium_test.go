package web

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

var update = flag.Bool("update", false, "write the dashboard screenshot to docs/dashboard.png")

// chromium finds Debian's Chromium, which make test-deps installs, or
// skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	return testenv.MustHaveOneOf(t, "chromium", "chromium", "chromium-browser", "google-chrome")
}

// TestDashboardInChromium loads the dashboard in a real headless Chromium:
// the charts are drawn (uPlot canvases with pixels on them), the failing
// addresses are in the DOM, hostile reporter names stayed text, the page
// asked for nothing outside the dashboard, no script error or CSP
// violation happened, and a screenshot is not blank.
func TestDashboardInChromium(t *testing.T) {
	srv := newServer(t)
	ctx, seen := load(t, srv.URL, `#sessions-0 canvas`)
	drawn := evalInt(t, ctx, `document.querySelectorAll('[data-drawn="1"]').length`)
	canvases := evalInt(t, ctx, `document.querySelectorAll('canvas').length`)
	painted := evalInt(t, ctx, paintedJS)
	scripts := evalInt(t, ctx, `document.querySelectorAll('script').length`)
	images := evalInt(t, ctx, `document.querySelectorAll('img').length`)
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	nDomains, nReporters := 2, 5
	if want := nDomains + 2 + nReporters; drawn != want { // a chart per domain, the rates, the result-types, a chart per reporter
		t.Errorf("%d charts drawn, want %d", drawn, want)
	}
	if canvases < drawn || painted < drawn {
		t.Errorf("%d canvases, %d with pixels drawn; want at least %d", canvases, painted, drawn)
	}
	if scripts != 3 || images != 0 {
		t.Errorf("%d scripts and %d images in the DOM: a report string became markup", scripts, images)
	}
	for _, want := range []string{"198.51.100.7", "tlsrpt redeem --ip 198.51.100.7", `<script>alert("xss")</script>`, "gone quiet"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered text lacks %q", want)
		}
	}
	seen.check(t, srv.URL)
	checkScreenshot(t, shot)
}

// paintedJS counts the canvases with drawn (non-transparent) pixels.
const paintedJS = `Array.from(document.querySelectorAll('canvas')).filter(function (c) {
	var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	for (var i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; }
	return false;
}).length`

// pageEvents are what Chromium saw while it loaded a page: the requests,
// and the script errors, console errors and CSP violations.
type pageEvents struct {
	mu       sync.Mutex
	requests []string
	problems []string
}

// check fails the test when the page asked for anything outside base or
// had a problem.
func (e *pageEvents) check(t *testing.T, base string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range e.requests {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page asked for %s, outside the dashboard", u)
		}
	}
	if len(e.requests) < 5 {
		t.Errorf("only %d requests seen: %v", len(e.requests), e.requests)
	}
	for _, p := range e.problems {
		t.Errorf("in the page: %s", p)
	}
}

// evalInt runs js in the page of ctx and returns its number; an error
// fails t.
func evalInt(t *testing.T, ctx context.Context, js string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
	if err != nil {
		t.Fatalf("chromium: %s: %v", js, err)
	}
	return n
}

// load opens base+"/" in a new headless Chromium, listening to its
// events from the start, and waits until sel is visible.
func load(t *testing.T, base, sel string) (context.Context, *pageEvents) {
	t.Helper()
	ctx := browser(t)

	// Open the tab first, so that the listener misses nothing of the page.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	ev := &pageEvents{}
	mu, requests, problems := &ev.mu, &ev.requests, &ev.problems
	if err := chromedp.Listen(ctx, func(x any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := x.(type) {
		case *network.EventRequestWillBeSent:
			*requests = append(*requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			*problems = append(*problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value))
				}
				*problems = append(*problems, "console: "+strings.Join(parts, " "))
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				*problems = append(*problems, "log: "+e.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, enable := range []func() error{
		func() error { _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); return err },
		func() error { _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); return err },
		func() error { _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); return err },
	} {
		if err := enable(); err != nil {
			t.Fatalf("chromium: enabling events: %v", err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("chromium: loading the dashboard: %v", err)
	}
	return ctx, ev
}

// browser starts a headless Chromium with extra flags and returns the
// context of its tab, cancelled when the test ends.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkScreenshot decodes the PNG and counts its colours: a blank or
// one-colour page has a handful.
func checkScreenshot(t *testing.T, shot []byte) {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	colours := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	if len(colours) < 50 || b.Dx() < 800 || b.Dy() < 900 {
		t.Errorf("screenshot %dx%d with %d colours: looks blank", b.Dx(), b.Dy(), len(colours))
	}
	if *update {
		var out bytes.Buffer
		png.Encode(&out, img)
		if err := os.WriteFile("../docs/dashboard.png", out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
