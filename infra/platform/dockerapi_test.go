package platform

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDockerAPIVersion(t *testing.T) {
	for _, tc := range []struct {
		v       DockerAPIVersion
		wantErr string // "" = valid
		at44    bool   // AtLeast("1.44")
	}{
		{"", "", false}, // assumed MinDockerAPIVersion
		{"1.41", "", false},
		{"1.43", "", false},
		{"1.44", "", true},
		{"1.47", "", true},
		{"1.100", "", true}, // numeric, not lexical: 100 > 44
		{"2.0", "", true},
		{"1.40", "older than the minimum 1.41", false},
		{"1.4", "older than the minimum 1.41", false},
		{"0.99", "older than the minimum 1.41", false},
		{"abc", "must be <major>.<minor>", false},
		{"1", "must be <major>.<minor>", false},
		{"1.44.0", "must be <major>.<minor>", false},
		{"v1.44", "must be <major>.<minor>", false},
		{" 1.44", "must be <major>.<minor>", false},
		{"1.-1", "must be <major>.<minor>", false},
	} {
		t.Run(string(tc.v), func(t *testing.T) {
			err := tc.v.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate = %v, want an error mentioning %q", err, tc.wantErr)
			}
			if got := tc.v.AtLeast("1.44"); got != tc.at44 {
				t.Errorf("AtLeast(1.44) = %v, want %v", got, tc.at44)
			}
		})
	}
	if got := DockerAPIVersion("").OrMin(); got != MinDockerAPIVersion {
		t.Errorf("empty OrMin = %q", got)
	}
	if got := DockerAPIVersion("1.44").OrMin(); got != "1.44" {
		t.Errorf("1.44 OrMin = %q", got)
	}
}

// Stack configuration reaches the program as JSON, where YAML has already turned an unquoted
// 1.40 into the number 1.4: that is an error telling to quote it, never another version.
func TestDockerAPIVersionJSON(t *testing.T) {
	var h HostConfig
	if err := json.Unmarshal([]byte(`{"name":"a","dockerApiVersion":"1.44"}`), &h); err != nil || h.DockerAPIVersion != "1.44" {
		t.Errorf("string: %q, %v", h.DockerAPIVersion, err)
	}
	h = HostConfig{}
	if err := json.Unmarshal([]byte(`{"name":"a"}`), &h); err != nil || h.DockerAPIVersion != "" {
		t.Errorf("absent: %q, %v", h.DockerAPIVersion, err)
	}
	err := json.Unmarshal([]byte(`{"name":"a","dockerApiVersion":1.4}`), &h)
	if err == nil || !strings.Contains(err.Error(), "quoted string") {
		t.Errorf("number: err = %v, want a quote-it error", err)
	}
}

// The daemon's config file decodes hosts: as []Host with yaml.v3 and unknown keys refused
// (pool/cli): dockerApiVersion is a known key, and YAML keeps an unquoted version's text.
func TestHostYAML(t *testing.T) {
	const doc = `
- {name: edge1, dockerUrl: "ssh://deploy@203.0.113.10", address: 203.0.113.10, capacity: 40,
   network: tenantpool-tenants, wildcardTarget: true, dockerApiVersion: "1.47"}
- {name: edge2, dockerUrl: "ssh://deploy@203.0.113.20", capacity: 40, network: n, dockerApiVersion: 1.40}
- {name: edge3, dockerUrl: "ssh://deploy@203.0.113.30", capacity: 40, network: n}
`
	dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.KnownFields(true)
	var hs []Host
	if err := dec.Decode(&hs); err != nil {
		t.Fatal(err)
	}
	if hs[0].DockerAPIVersion != "1.47" || hs[1].DockerAPIVersion != "1.40" || hs[2].DockerAPIVersion != "" {
		t.Fatalf("versions %q %q %q", hs[0].DockerAPIVersion, hs[1].DockerAPIVersion, hs[2].DockerAPIVersion)
	}
	if err := hs[0].Validate(); err != nil {
		t.Errorf("edge1: %v", err)
	}
	if err := hs[1].Validate(); err == nil || !strings.Contains(err.Error(), "host edge2: docker API version 1.40 is older than the minimum 1.41") {
		t.Errorf("edge2: err = %v, want the minimum", err)
	}
	if err := hs[2].Validate(); err != nil {
		t.Errorf("edge3 (no version: the minimum is assumed): %v", err)
	}
	h := LocalHost()
	h.DockerAPIVersion = "abc"
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), `host local: docker API version "abc" must be <major>.<minor>`) {
		t.Errorf("abc: err = %v", err)
	}
}

func TestLocalHost(t *testing.T) {
	h := LocalHost()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.DockerAPIVersion != MinDockerAPIVersion {
		t.Errorf("local host API %q, want the stock engine's %q", h.DockerAPIVersion, MinDockerAPIVersion)
	}
	h.SSHOpts = append(h.SSHOpts, "-v")
	if LocalHost().SSHOpts != nil {
		t.Error("LocalHost returns shared state")
	}
}
