package studiobrand

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
)

// pngLogo is a small orange square as a data URL.
func pngLogo(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for x := range 16 {
		for y := range 16 {
			img.Set(x, y, color.RGBA{0xff, 0x66, 0, 0xff})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

// TestBrandedStudioInChromium serves a branded copy of the fixture frontend (Langflow's
// index.html structure and a bundle that renders like it) and checks, in headless Chromium, the
// tab title, the favicon, the primary colour, the name on the login page and in the header, the
// logo, and that what the customer types is left alone. Screenshots: test-artifacts/browser/.
func TestBrandedStudioInChromium(t *testing.T) {
	b := pool.Brand{Name: "Acme Flows", Logo: pngLogo(t), Color: "#ff6600"}
	src, err := filepath.Abs("testdata/frontend")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "frontend")
	if err := Prepare(src, dst, b); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dst)))
	t.Cleanup(srv.Close)

	ctx := browsertest.New(t)
	do := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	str := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	wait := func(expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v (title %q, body %q)", expr, err, str("document.title"), str("document.body.innerText"))
		}
	}

	// The login page.
	do(chromedp.Navigate(srv.URL+"/#/login"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	wait(`document.getElementById("heading").textContent === "Sign in to Acme Flows" && document.title === "Acme Flows"`)
	browsertest.Screenshot(t, ctx, "login")
	if got := str(`document.querySelector("link[rel=icon]").getAttribute("href")`); got != b.Logo {
		t.Errorf("favicon %.40q, want the brand's logo", got)
	}
	if got := str(`(document.getElementById("tenantpool-brand-login")||{}).src||""`); got != b.Logo {
		t.Errorf("login logo %.40q, want the brand's logo", got)
	}
	if got := str(`getComputedStyle(document.getElementById("signin")).backgroundColor`); got != "rgb(255, 102, 0)" {
		t.Errorf("primary button background %s, want the brand colour rgb(255, 102, 0)", got)
	}

	// The studio: its header.
	do(chromedp.Navigate(srv.URL+"/#/flows"), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("header")))
	wait(`document.getElementById("product") && document.getElementById("product").textContent === "Acme Flows" && document.title === "Acme Flows"`)
	if got := str(`(document.querySelector("header #tenantpool-brand-logo")||{}).src||""`); got != b.Logo {
		t.Errorf("header logo %.40q", got)
	}
	if got := str(`String(document.querySelectorAll("link[rel~=icon]").length)`); got != "1" {
		t.Errorf("%s icon links, want the brand's only", got)
	}
	if got := str(`document.getElementById("prompt").value`); !strings.Contains(got, "Langflow stays here") {
		t.Errorf("the customer's text was rewritten: %q", got)
	}
	if got := str(`getComputedStyle(document.getElementById("new")).backgroundColor`); got != "rgb(255, 102, 0)" {
		t.Errorf("header page button %s", got)
	}
}
