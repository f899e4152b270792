package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"query": func(kv ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		return template.URL(v.Encode())
	},
	"sold":  func(s pool.State) bool { return s.Sold() },
	"short": pool.ShortDuration,
}

// parsePages parses the layout with each page.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

// page is what every page's template gets.
type page struct {
	Title  string
	Nav    string // the active nav entry
	CSRF   string
	Flash  string
	Error  string
	Status int
	Data   any
}

// render writes a page (status 200 unless p.Status says otherwise).
func (c *Console) render(w http.ResponseWriter, rq *request, name string, p page) {
	if rq != nil {
		p.CSRF = rq.sess.csrf
		if p.Flash == "" {
			p.Flash = c.sessions.takeFlash(rq.key)
		}
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.log.Error("console page failed to render", "page", name, "err", err)
		http.Error(w, "internal error: the page failed to render (see the daemon log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if p.Status != 0 {
		w.WriteHeader(p.Status)
	}
	w.Write(buf.Bytes())
}

// fail shows err on the error page with what the operator can do about it: the message of an
// error the operator can fix, a generic one (the detail in the log) for anything else.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	code := admin.StatusCode(err)
	msg := err.Error()
	hint := ""
	switch {
	case errors.Is(err, pool.ErrForceRequired):
		hint = "Tick “the account is sold: retire it anyway” to suspend it and destroy it after the grace period."
	case errors.Is(err, pool.ErrPoolEmpty):
		hint = "No ready account: create some (Mass create) or wait for the reconciler to top the pool up."
	case errors.Is(err, pool.ErrNotFound):
		hint = "It may have been removed meanwhile: go back to the list and search again."
	case code == http.StatusBadRequest:
		hint = "Correct the form and send it again."
	case code == http.StatusServiceUnavailable:
		hint = "This daemon is not configured for it; see the README's configuration section."
	case code >= 500:
		c.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "Something failed inside the daemon; the detail is in its log."
		if r.Context().Err() != nil {
			msg = "The request was abandoned before it finished."
		}
		hint = "Try again; if it keeps failing, look at the daemon's log."
	}
	c.render(w, rq, "error", page{Title: "Error", Status: code, Error: msg, Data: hint})
}

// chart is an inline SVG of a history: a line of ready accounts and bars of sales. Only numbers
// and fixed strings enter the SVG; labels are escaped.
type chart struct {
	Title string
	SVG   template.HTML
	Max   int
	Total int
}

func chartOf(title string, ready, sales []int, start time.Time, step time.Duration, label string) chart {
	const w, h, pad = 600.0, 160.0, 24.0
	n := len(ready)
	top := 1
	total := 0
	for i := range n {
		top = max(top, ready[i], sales[i])
		total += sales[i]
	}
	x := func(i int) float64 { return pad + (w-2*pad)*(float64(i)+0.5)/float64(max(n, 1)) }
	y := func(v int) float64 { return h - pad - (h-2*pad)*float64(v)/float64(top) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" class="chart">`, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="axis"/>`, pad, h-pad, w-pad, h-pad)
	bw := (w - 2*pad) / float64(max(n, 1)) * 0.6
	for i, v := range sales {
		if v > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="sales"><title>%d sold</title></rect>`,
				x(i)-bw/2, y(v), bw, h-pad-y(v), v)
		}
	}
	var pts []string
	for i, v := range ready {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
	}
	fmt.Fprintf(&b, `<polyline points="%s" class="ready"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%.1f" y="14" class="label">max %d</text>`, pad, top)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="label">%s</text>`, pad, h-6, template.HTMLEscapeString(start.UTC().Format(label)))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="label" text-anchor="end">now</text>`, w-pad, h-6)
	b.WriteString(`</svg>`)
	return chart{Title: title, SVG: template.HTML(b.String()), Max: top, Total: total}
}
