package studiobrand

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

func fixture(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/frontend/index.html")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var acme = pool.Brand{Name: "Acme <Flows> & Co", Logo: "https://cdn.acme.example/logo.svg", Color: "#ff6600"}

func TestRewrite(t *testing.T) {
	out, err := Rewrite(fixture(t), acme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"<title>Acme &lt;Flows&gt; &amp; Co</title>",
		`<link rel="icon" href="https://cdn.acme.example/logo.svg">`,
		"--primary:24 100% 50% !important",
		`"name":"Acme \u003cFlows\u003e \u0026 Co"`,
		`<script type="module" crossorigin src="/assets/index-fixture.js"></script>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rewritten index.html lacks %q:\n%s", want, s)
		}
	}
	for _, gone := range []string{"<title>Langflow</title>", "/favicon.ico", "<Flows>"} {
		if strings.Contains(s, gone) {
			t.Errorf("rewritten index.html still has %q", gone)
		}
	}
	if strings.Index(s, beginMarker) > strings.Index(s, "</head>") {
		t.Error("the brand block is not in the head")
	}

	again, err := Rewrite(out, acme)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, out) {
		t.Errorf("rewriting twice differs:\n%s\n---\n%s", out, again)
	}
	plain, err := Rewrite(out, pool.Brand{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), "tenantpool-brand") {
		t.Error("a zero brand left the brand block")
	}
}

func TestRewriteOnlyWhatIsSet(t *testing.T) {
	out, err := Rewrite(fixture(t), pool.Brand{Color: "#112233"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "<title>Langflow</title>") || !strings.Contains(s, "/favicon.ico") {
		t.Errorf("a colour-only brand changed the title or the icon:\n%s", s)
	}
	if !strings.Contains(s, "--primary:210 50% 13.3% !important") {
		t.Errorf("colour missing:\n%s", s)
	}
}

func TestRewriteRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		doc string
		b   pool.Brand
		err error
	}{
		"bad colour":       {string(fixture(t)), pool.Brand{Color: "red;}body{display:none"}, pool.ErrInvalidBrand},
		"script in logo":   {string(fixture(t)), pool.Brand{Logo: `https://x.example/"><script>`}, pool.ErrInvalidBrand},
		"javascript logo":  {string(fixture(t)), pool.Brand{Logo: "javascript:alert(1)"}, pool.ErrInvalidBrand},
		"no head":          {"<html><body>hi</body></html>", acme, ErrNoHead},
		"control in name":  {string(fixture(t)), pool.Brand{Name: "a\x00b"}, pool.ErrInvalidBrand},
		"html logo as svg": {string(fixture(t)), pool.Brand{Logo: "data:image/png;base64,PGh0bWw+"}, pool.ErrInvalidBrand},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Rewrite([]byte(c.doc), c.b); !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
		})
	}
}

func TestHSL(t *testing.T) {
	for hex, want := range map[string]string{
		"#000000": "0 0 0", "#ffffff": "0 0 100", "#ff0000": "0 100 50", "#00ff00": "120 100 50",
		"#0000ff": "240 100 50", "#ff6600": "24 100 50", "#18181b": "240 5.9 10",
	} {
		h, s, l := hsl(hex)
		if got := num(h) + " " + num(s) + " " + num(l); got != want {
			t.Errorf("hsl(%s) = %s, want %s", hex, got, want)
		}
	}
}

func TestPrepare(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "front")
	src, err := filepath.Abs("testdata/frontend")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Prepare(src, dst, acme); err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(dst, "index.html"))
	if err != nil || !strings.Contains(string(idx), "<title>Acme") {
		t.Fatalf("index.html: %v\n%s", err, idx)
	}
	js, err := os.ReadFile(filepath.Join(dst, "assets", "index-fixture.js"))
	orig, _ := os.ReadFile(filepath.Join(src, "assets", "index-fixture.js"))
	if err != nil || !bytes.Equal(js, orig) {
		t.Fatalf("assets not copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "stale")); !os.IsNotExist(err) {
		t.Errorf("a stale file of an earlier copy survived: %v", err)
	}
	if err := Prepare(src, filepath.Join(src, "copy"), acme); err == nil {
		t.Error("a copy inside its source was accepted")
	}
	if err := Prepare(src, dst, pool.Brand{Color: "nope"}); !errors.Is(err, pool.ErrInvalidBrand) {
		t.Errorf("bad brand: %v", err)
	}
}
