package deploy

import (
	"os"
	"regexp"
	"testing"
)

// Plugins name the versions go.mod pins the providers' SDKs at, and nothing else.
func TestPluginsAgreeWithGoMod(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	sdks := map[string]string{}
	for _, m := range regexp.MustCompile(`github\.com/pulumi/pulumi-([a-z]+)/sdk/v[0-9]+ (v[0-9][^\s]*)`).FindAllStringSubmatch(string(gomod), -1) {
		sdks[m[1]] = m[2]
	}
	if len(sdks) != len(Plugins) {
		t.Errorf("go.mod requires the provider SDKs %v, Plugins lists %v", sdks, Plugins)
	}
	for _, p := range Plugins {
		if sdks[p.Name] != p.Version {
			t.Errorf("plugin %s %s, go.mod pins its SDK at %q", p.Name, p.Version, sdks[p.Name])
		}
	}
}
