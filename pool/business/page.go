package business

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

//go:embed page.html page.css
var pageFS embed.FS

// CSS is the stylesheet of Page's fragment (kept out of the fragment so that a page with a
// strict Content-Security-Policy can serve it as a file; the charts' colours are SVG attributes
// and need no stylesheet).
var CSS = func() string {
	b, err := pageFS.ReadFile("page.css")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"pct": func(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + " %" },
}).ParseFS(pageFS, "page.html"))

// Page writes the business figures as an HTML fragment (no <html>, no script): the headline
// figures, a table per tier and interval and three charts drawn as inline SVG on the server —
// MRR per month, new and churned subscriptions per month, MRR per day. The console mounts it
// inside its own layout; every element is under <section class="business" id="business">.
// The MRR figure carries data-figure="mrr" (and its value in cents in data-cents), so that a
// browser test can read it.
func Page(w io.Writer, r Report) error {
	v := pageView{R: r, MRR: Money(r.MRRCents, r.Currency), ARR: Money(r.ARRCents, r.Currency),
		ARPA: Money(r.ARPACents, r.Currency), LTV: "—"}
	if r.LTVCents != nil {
		v.LTV = Money(*r.LTVCents, r.Currency)
	}
	for _, p := range r.Plans {
		v.Plans = append(v.Plans, planView{Plan: p, MRR: Money(p.MRRCents, r.Currency), ARR: Money(p.ARRCents, r.Currency)})
	}
	v.Charts = []chart{
		barChart("business-mrr-monthly", "MRR per month", r.Monthly, r.Currency,
			func(p Point) []float64 { return []float64{float64(p.MRRCents)} }, func(p Point) string {
				return p.Label + ": MRR " + Money(p.MRRCents, r.Currency) + ", " + strconv.Itoa(p.Subscriptions) + " subscriptions"
			}),
		barChart("business-flow-monthly", "New (green) and churned (red) subscriptions per month", r.Monthly, "",
			func(p Point) []float64 { return []float64{float64(p.New), float64(p.Churned)} }, func(p Point) string {
				return fmt.Sprintf("%s: %d new, %d churned, churn rate %.1f %%", p.Label, p.New, p.Churned, p.ChurnRate*100)
			}),
		barChart("business-mrr-daily", "MRR per day, last 30 days", r.Daily, r.Currency,
			func(p Point) []float64 { return []float64{float64(p.MRRCents)} }, func(p Point) string {
				return p.Label + ": MRR " + Money(p.MRRCents, r.Currency)
			}),
	}
	if err := pageTmpl.Execute(w, v); err != nil {
		return fmt.Errorf("business page: %w", err)
	}
	return nil
}

type pageView struct {
	R                   Report
	MRR, ARR, ARPA, LTV string
	Plans               []planView
	Charts              []chart
}

type planView struct {
	Plan
	MRR, ARR string
}

// The geometry of a chart's SVG (viewBox units).
const (
	chartW, chartH = 600.0, 200.0
	padL, padB     = 60.0, 24.0
)

type chart struct {
	ID, Title string
	W, H      float64
	Bars      []bar
	Ticks     []tick // y axis
	Labels    []tick // x axis (some periods)
	AxisY     float64
	PadL      float64
}

type bar struct {
	X, Y, W, H  float64
	Class, Fill string
	Title       string
}

type tick struct {
	X, Y  float64
	Label string
}

// barFills are the colours of the bars of a group: one value (MRR) blue; two values (new,
// churned) green and red.
var barFills = map[int][]string{1: {"#2f81f7"}, 2: {"#1a7f37", "#cf222e"}}

// barChart draws one group of bars per point (one bar per value of vals), scaled to the largest
// value, with a y axis of three ticks and about six x labels.
func barChart(id, title string, pts []Point, currency string, vals func(Point) []float64, label func(Point) string) chart {
	c := chart{ID: id, Title: title, W: chartW, H: chartH, AxisY: chartH - padB, PadL: padL}
	top := 0.0
	for _, p := range pts {
		top = max(top, slices.Max(vals(p)))
	}
	if currency == "" {
		// Counts: an even whole top, so that the middle tick is a whole number too.
		top = max(2, math.Ceil(top/2)*2)
	} else if top == 0 {
		top = 1
	}
	plotW, plotH := chartW-padL-8, chartH-padB-8
	slot := plotW / float64(max(len(pts), 1))
	every := max(1, len(pts)/6)
	for i, p := range pts {
		vs := vals(p)
		w := slot * 0.8 / float64(len(vs))
		for j, v := range vs {
			h := v / top * plotH
			c.Bars = append(c.Bars, bar{X: round1(padL + float64(i)*slot + slot*0.1 + float64(j)*w), Y: round1(chartH - padB - h),
				W: round1(w), H: round1(h), Class: []string{"a", "b"}[j%2], Fill: barFills[len(vs)][j], Title: label(p)})
		}
		if i%every == 0 || i == len(pts)-1 {
			c.Labels = append(c.Labels, tick{X: round1(padL + float64(i)*slot + slot/2), Y: chartH - 6, Label: shortLabel(p.Label)})
		}
	}
	for k := 0; k <= 2; k++ {
		v := top * float64(k) / 2
		l := strconv.FormatFloat(v, 'f', 0, 64)
		if currency != "" {
			l = Money(int64(v), currency)
		}
		c.Ticks = append(c.Ticks, tick{X: padL - 4, Y: round1(chartH - padB - v/top*plotH + 4), Label: l})
	}
	return c
}

func shortLabel(l string) string {
	if len(l) == len("2006-01-02") {
		return l[5:] // 12-03
	}
	return l
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// zeroDecimal are the currencies Stripe counts in whole units.
var zeroDecimal = []string{"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}

// Money formats an amount in minor units: "1,234.56 USD" (whole units for the currencies Stripe
// counts without decimals; no currency suffix when currency is "").
func Money(minor int64, currency string) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	whole, frac := minor/100, minor%100
	dec := true
	if slices.Contains(zeroDecimal, currency) {
		whole, dec = minor, false
	}
	s := strconv.FormatInt(whole, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if dec {
		out += fmt.Sprintf(".%02d", frac)
	}
	if neg {
		out = "-" + out
	}
	if currency != "" {
		out += " " + strings.ToUpper(currency)
	}
	return out
}
