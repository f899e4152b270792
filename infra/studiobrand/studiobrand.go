// Package studiobrand applies an account's white-label settings (pool.Brand) to Langflow's
// built frontend: the studio's tab title, favicon, primary colour, and the product name and logo
// on its login page and header.
//
// Stock Langflow ignores TENANTPOOL_BRAND_*: its frontend is a prebuilt single-page app whose
// index.html loads the bundle. The project's image layer (infra/cmd/langflow-brand, a Dockerfile
// FROM the pinned Langflow image) runs Prepare before Langflow starts: the built frontend is
// copied to a writable directory (the tenant's root filesystem is read-only), its index.html is
// rewritten by Rewrite, and Langflow is pointed at the copy with LANGFLOW_FRONTEND_PATH.
//
// Rewrite changes only index.html: the <title>, every icon <link> (replaced by the logo), and
// one block before </head> — a <style> that overrides the theme's colour variables (Langflow's
// Tailwind theme reads --primary and --ring as "H S% L%") and a small script that keeps the tab
// title, replaces the text "Langflow" outside editable places with the name, and puts the logo
// in the header and above the login form as the app renders them. The values are validated
// (pool.Brand.Validate) and escaped for their contexts (html/template's rules: HTML text, CSS,
// JavaScript).
package studiobrand

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/axiestudio/tenantpool/pool"
)

// The environment the image layer reads (tenant.Branding.Env writes them).
const (
	EnvName  = "TENANTPOOL_BRAND_APP_NAME"
	EnvLogo  = "TENANTPOOL_BRAND_LOGO_URL"
	EnvColor = "TENANTPOOL_BRAND_PRIMARY_COLOR"
)

// FromEnv reads the brand from the environment and validates it.
func FromEnv(getenv func(string) string) (pool.Brand, error) {
	b := pool.Brand{Name: getenv(EnvName), Logo: getenv(EnvLogo), Color: getenv(EnvColor)}
	if err := b.Validate(); err != nil {
		return pool.Brand{}, err
	}
	return b, nil
}

const (
	beginMarker = "<!-- tenantpool-brand -->"
	endMarker   = "<!-- /tenantpool-brand -->"
)

var (
	titleRE   = regexp.MustCompile(`(?is)<title\b[^>]*>.*?</title\s*>`)
	iconRE    = regexp.MustCompile(`(?is)<link\b[^>]*\brel\s*=\s*["']?(?:shortcut\s+icon|icon|apple-touch-icon)["']?[^>]*>\s*`)
	headEndRE = regexp.MustCompile(`(?i)</head\s*>`)
	blockRE   = regexp.MustCompile(`(?s)` + regexp.QuoteMeta(beginMarker) + `.*?` + regexp.QuoteMeta(endMarker) + `\s*`)
)

// ErrNoHead: the document has no </head>, so it is not the frontend's index.html.
var ErrNoHead = errors.New("index.html has no </head>")

// Rewrite returns index with the brand applied. A zero brand returns it unchanged; rewriting a
// rewritten document replaces the earlier brand.
func Rewrite(index []byte, b pool.Brand) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	out := blockRE.ReplaceAll(index, nil)
	if b.IsZero() {
		return out, nil
	}
	if headEndRE.Find(out) == nil {
		return nil, ErrNoHead
	}
	if b.Name != "" {
		title := []byte("<title>" + html.EscapeString(b.Name) + "</title>")
		if titleRE.Match(out) {
			out = titleRE.ReplaceAllLiteral(out, title)
		} else {
			out = insertHead(out, append(title, '\n'))
		}
	}
	var block strings.Builder
	block.WriteString(beginMarker + "\n")
	if b.Logo != "" {
		out = iconRE.ReplaceAll(out, nil)
		fmt.Fprintf(&block, "<link rel=\"icon\" href=\"%s\">\n", html.EscapeString(b.Logo))
	}
	if b.Color != "" {
		h, s, l := hsl(b.Color)
		comp := fmt.Sprintf("%s %s%% %s%%", num(h), num(s), num(l))
		fmt.Fprintf(&block, "<style id=\"tenantpool-brand-style\">:root,.dark{--primary:%s !important;--ring:%s !important;--tenantpool-brand:%s}</style>\n",
			comp, comp, b.Color)
	}
	cfg, err := json.Marshal(map[string]string{"name": b.Name, "logo": b.Logo}) // escapes <, >, & as \u003c…
	if err != nil {
		return nil, err
	}
	block.WriteString("<script id=\"tenantpool-brand-script\">" + strings.Replace(script, "BRAND", string(cfg), 1) + "</script>\n")
	block.WriteString(endMarker + "\n")
	return insertHead(out, []byte(block.String())), nil
}

func insertHead(doc, s []byte) []byte {
	loc := headEndRE.FindIndex(doc)
	var out bytes.Buffer
	out.Grow(len(doc) + len(s))
	out.Write(doc[:loc[0]])
	out.Write(s)
	out.Write(doc[loc[0]:])
	return out.Bytes()
}

// script keeps the brand on the single-page app as it renders. BRAND is replaced by a JSON object.
const script = `(function(){var b=BRAND;var busy=false;
function skip(n){for(;n;n=n.parentNode){if(n.nodeType!==1)continue;var t=n.tagName;
if(t==="INPUT"||t==="TEXTAREA"||t==="SCRIPT"||t==="STYLE"||t==="CODE"||t==="PRE"||n.isContentEditable)return true;
if(n.classList&&n.classList.contains("react-flow__renderer"))return true;}return false;}
function logo(id,h){var i=document.createElement("img");i.id=id;i.src=b.logo;i.alt=b.name||"";i.style.height=h;i.style.maxWidth="160px";i.style.objectFit="contain";return i;}
function fix(){if(busy)return;busy=true;try{
if(b.name){if(document.title!==b.name&&document.title.indexOf("Langflow")>=0)document.title=document.title.replace(/Langflow/g,b.name);
var w=document.createTreeWalker(document.body,NodeFilter.SHOW_TEXT,null),x,a=[];while((x=w.nextNode()))if(x.nodeValue.indexOf("Langflow")>=0&&!skip(x.parentNode))a.push(x);
a.forEach(function(t){t.nodeValue=t.nodeValue.replace(/Langflow/g,b.name);});}
if(b.logo){var hd=document.querySelector("header");if(hd&&!document.getElementById("tenantpool-brand-logo"))hd.insertBefore(logo("tenantpool-brand-logo","28px"),hd.firstChild);
var pw=document.querySelector("input[type=password]");var f=pw&&pw.closest("form");
if(f&&!hd&&!document.getElementById("tenantpool-brand-login"))f.insertBefore(logo("tenantpool-brand-login","56px"),f.firstChild);}
}finally{busy=false;}}
function start(){fix();new MutationObserver(fix).observe(document.documentElement,{childList:true,subtree:true,characterData:true});}
if(document.body)start();else document.addEventListener("DOMContentLoaded",start);})();`

// hsl converts #rrggbb to hue (degrees), saturation and lightness (percent).
func hsl(hex string) (h, s, l float64) {
	v, _ := strconv.ParseUint(hex[1:], 16, 32)
	r, g, b := float64(v>>16&0xff)/255, float64(v>>8&0xff)/255, float64(v&0xff)/255
	mx, mn := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	l = (mx + mn) / 2
	if d := mx - mn; d > 0 {
		if l > 0.5 {
			s = d / (2 - mx - mn)
		} else {
			s = d / (mx + mn)
		}
		switch mx {
		case r:
			h = (g - b) / d
			if g < b {
				h += 6
			}
		case g:
			h = (b-r)/d + 2
		default:
			h = (r-g)/d + 4
		}
		h *= 60
	}
	return h, s * 100, l * 100
}

func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// Prepare copies the built frontend src to dst (replacing whatever dst held) with index.html
// rewritten for b. dst must not be inside src, nor src inside dst.
func Prepare(src, dst string, b pool.Brand) error {
	src, dst = filepath.Clean(src), filepath.Clean(dst)
	if !filepath.IsAbs(src) || !filepath.IsAbs(dst) {
		return fmt.Errorf("frontend paths must be absolute: %q, %q", src, dst)
	}
	if within(dst, src) || within(src, dst) {
		return fmt.Errorf("frontend copy %s and source %s must not contain each other", dst, src)
	}
	index, err := os.ReadFile(filepath.Join(src, "index.html"))
	if err != nil {
		return fmt.Errorf("frontend: %w", err)
	}
	out, err := Rewrite(index, b)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case rel == "index.html":
			return os.WriteFile(target, out, 0o644)
		case d.Type().IsRegular():
			return copyFile(p, target)
		}
		return nil // symlinks and devices are not part of a built frontend
	})
	if err != nil {
		return fmt.Errorf("copy frontend: %w", err)
	}
	return nil
}

func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}
