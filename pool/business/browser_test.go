package business_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool/business"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// The fragment, mounted in a page the way the console mounts it (its stylesheet beside it, a
// strict Content-Security-Policy: no script, no inline style), shows the MRR of the known
// orders in a real Chromium, and draws its charts (the bars have a size on screen).
func TestPageInBrowser(t *testing.T) {
	clock := quartz.NewMock(t)
	clock.Set(now)
	s := storetest.OpenSQLite(t, t.TempDir(), clock)
	seed(t, s, clock)
	svc := business.New(s, testTiers(t), clock)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /business.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		fmt.Fprint(w, business.CSS)
	})
	mux.HandleFunc("GET /business", func(w http.ResponseWriter, r *http.Request) {
		rep, err := svc.Report(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var frag bytes.Buffer
		if err := business.Page(&frag, rep); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Business</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/business.css"></head>
<body><main>%s</main></body></html>`, frag.String())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/business"), chromedp.WaitVisible(chromedp.CSS(`[data-figure="mrr"]`))); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return v
	}
	eval := func(js string) int {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	mrr, basicYear := text(`[data-figure="mrr"]`), text(`[data-plan-mrr="basic/year"]`)
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`[data-figure="mrr"]`), "data-cents"))
	if err != nil {
		t.Fatal(err)
	}
	cents := attr.Value
	bars := eval(`document.querySelectorAll("#business-mrr-monthly rect").length`)
	barWidth := eval(`Math.round(document.querySelector("#business-mrr-monthly").getBoundingClientRect().width)`)
	// The stylesheet applied (served as a file under the policy): the figures are a grid.
	gridColumns := eval(`getComputedStyle(document.querySelector(".business .figures")).display === "grid" ? 1 : 0`)
	if mrr != "176.33 USD" || cents != "17633" {
		t.Errorf("MRR shown %q (data-cents %q), want 176.33 USD (17633)", mrr, cents)
	}
	if basicYear != "48.33 USD" {
		t.Errorf("basic/year MRR shown %q, want 48.33 USD", basicYear)
	}
	if bars != 12 || barWidth < 100 {
		t.Errorf("monthly MRR chart: %d bars, %d px wide; want 12 bars on screen", bars, barWidth)
	}
	if gridColumns != 1 {
		t.Error("business.CSS did not apply")
	}
}
