package pool

import "testing"

// TestGeneration: the program's version, the image digest and every container setting of the
// tier make a new generation; the pool targets, prices and the image's tag do not.
func TestGeneration(t *testing.T) {
	const img = "langflowai/langflow:1.5@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	base := Tier{Name: "basic", MinReady: 3, MaxTotal: 20, MaxInFlight: 2, MemoryMB: 1024, CPUs: 1}
	g := Generation("1", img, base)
	if len(g) != 17 || g[0] != 'g' {
		t.Fatalf("generation %q: want g and 16 hex digits", g)
	}
	same := map[string]func(Tier) (string, string, Tier){
		"pool targets": func(t Tier) (string, string, Tier) {
			t.MinReady, t.MaxTotal, t.MaxInFlight = 9, 99, 9
			return "1", img, t
		},
		"prices": func(t Tier) (string, string, Tier) { t.PriceID = "price_x"; return "1", img, t },
		"image tag": func(t Tier) (string, string, Tier) {
			return "1", "langflowai/langflow:other@sha256:" + img[len(img)-64:], t
		},
		"explicit defaults": func(t Tier) (string, string, Tier) {
			t.PidsLimit, t.NoFile = DefaultPidsLimit, DefaultNoFile
			return "1", img, t
		},
	}
	for name, f := range same {
		if got := Generation(f(base)); got != g {
			t.Errorf("%s changed the generation: %s → %s", name, g, got)
		}
	}
	differ := map[string]func(Tier) (string, string, Tier){
		"program":  func(t Tier) (string, string, Tier) { return "2", img, t },
		"digest":   func(t Tier) (string, string, Tier) { return "1", img[:len(img)-1] + "b", t },
		"tier":     func(t Tier) (string, string, Tier) { t.Name = "premium"; return "1", img, t },
		"memory":   func(t Tier) (string, string, Tier) { t.MemoryMB = 2048; return "1", img, t },
		"cpus":     func(t Tier) (string, string, Tier) { t.CPUs = 2; return "1", img, t },
		"limits":   func(t Tier) (string, string, Tier) { t.PidsLimit = 1024; return "1", img, t },
		"branding": func(t Tier) (string, string, Tier) { t.Branding = true; return "1", img, t },
		"domains":  func(t Tier) (string, string, Tier) { t.CustomDomains = 1; return "1", img, t },
	}
	for name, f := range differ {
		if got := Generation(f(base)); got == g {
			t.Errorf("a change of %s kept the generation %s", name, g)
		}
	}
}
