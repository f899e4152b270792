// Package pulumitest runs infra programs against Pulumi's mock monitor and records what they
// register, for the unit tests of infra/platform and infra/tenant. The Docker and Cloudflare
// providers cannot be downloaded here, so the mocks stand in for them: a test asserts the
// resources and inputs a program asks for, not what a provider would do with them.
package pulumitest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Resource is one resource a program registered.
type Resource struct {
	Type     string
	Name     string
	Inputs   resource.PropertyMap
	Provider string // "urn::id" of the explicit provider, "" for none
}

// Input returns the input key with secrets unwrapped into plain Go values (string, float64,
// bool, []any, map[string]any), and whether the value itself was a secret.
func (r Resource) Input(key string) (value any, secret bool) {
	v, ok := r.Inputs[resource.PropertyKey(key)]
	if !ok {
		return nil, false
	}
	return Plain(v), v.IsSecret()
}

// String returns the input key as a string ("" if absent or not a string).
func (r Resource) String(key string) string {
	s, _ := r.Input(key)
	str, _ := s.(string)
	return str
}

// Strings returns the input key as a list of strings.
func (r Resource) Strings(key string) []string {
	v, _ := r.Input(key)
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// Labels returns a docker [{label, value}] input as a map.
func (r Resource) Labels(key string) map[string]string {
	v, _ := r.Input(key)
	list, _ := v.([]any)
	out := map[string]string{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		l, _ := m["label"].(string)
		val, _ := m["value"].(string)
		out[l] = val
	}
	return out
}

// Plain converts a property value to plain Go values, unwrapping secrets at any depth.
func Plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return Plain(v.SecretValue().Element)
	case v.IsArray():
		out := []any{}
		for _, e := range v.ArrayValue() {
			out = append(out, Plain(e))
		}
		return out
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = Plain(e)
		}
		return out
	case v.IsComputed(), v.IsOutput(), v.IsNull():
		return nil
	case v.IsResourceReference():
		return v.ResourceReferenceValue().URN
	default:
		return v.V
	}
}

// HasSecret reports whether v or anything inside it is a secret.
func HasSecret(v resource.PropertyValue) bool {
	switch {
	case v.IsSecret():
		return true
	case v.IsArray():
		return slices.ContainsFunc(v.ArrayValue(), HasSecret)
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if HasSecret(e) {
				return true
			}
		}
	}
	return false
}

// Mocks records every registered resource and answers with its inputs plus a few computed
// outputs that the programs read (image id, custom hostname validation records).
type Mocks struct {
	mu        sync.Mutex
	resources []Resource
}

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// NewResource implements pulumi.MockResourceMonitor.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.resources = append(m.resources, Resource{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs.Copy(), Provider: args.Provider})
	m.mu.Unlock()

	state := args.Inputs.Copy()
	switch args.TypeToken {
	case "docker:index/remoteImage:RemoteImage":
		state["imageId"] = resource.NewStringProperty("sha256:image-of-" + args.Inputs["name"].StringValue())
	case "cloudflare:index/record:Record":
		state["hostname"] = args.Inputs["name"]
	case "cloudflare:index/customHostname:CustomHostname":
		h := args.Inputs["hostname"].StringValue()
		state["status"] = resource.NewStringProperty("pending")
		state["ownershipVerification"] = resource.NewObjectProperty(resource.PropertyMap{
			"type":  resource.NewStringProperty("txt"),
			"name":  resource.NewStringProperty("_cf-custom-hostname." + h),
			"value": resource.NewStringProperty("ownership-token-" + h),
		})
		state["ssls"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewObjectProperty(resource.PropertyMap{
			"method": resource.NewStringProperty("txt"),
			"type":   resource.NewStringProperty("dv"),
			"validationRecords": resource.NewArrayProperty([]resource.PropertyValue{resource.NewObjectProperty(resource.PropertyMap{
				"txtName":  resource.NewStringProperty("_acme-challenge." + h),
				"txtValue": resource.NewStringProperty("dcv-token-" + h),
			})}),
		})})
	}
	return args.Name + "-id", state, nil
}

// Call implements pulumi.MockResourceMonitor; the programs call no functions.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected call %s", args.Token)
}

// Resources returns the recorded resources in registration order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.resources)
}

// Get returns the resource of that type and name, failing the test if there is none.
func (m *Mocks) Get(t testing.TB, typ, name string) Resource {
	t.Helper()
	for _, r := range m.Resources() {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %q registered; have:\n%s", typ, name, m.List())
	return Resource{}
}

// OfType returns the resources of a type.
func (m *Mocks) OfType(typ string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// List is the sorted "type name" list of every resource, one a line (the golden-file format).
func (m *Mocks) List() string {
	var lines []string
	for _, r := range m.Resources() {
		lines = append(lines, r.Type+" "+r.Name)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// Run runs fn as a program against fresh mocks (project "tenantpool", the given stack) and returns
// them with the program's error. Options such as WithConfig can add stack configuration.
func Run(stack string, fn pulumi.RunFunc, opts ...pulumi.RunOption) (*Mocks, error) {
	m := &Mocks{}
	err := pulumi.RunErr(fn, append([]pulumi.RunOption{pulumi.WithMocks("tenantpool", stack, m)}, opts...)...)
	return m, err
}

// WithConfig sets the stack configuration (keys "namespace:key", values as Pulumi passes them:
// objects as JSON) and which keys are secrets.
func WithConfig(config map[string]string, secretKeys ...string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		info.Config = config
		info.ConfigSecretKeys = secretKeys
	}
}

// Await resolves an output inside a running program.
func Await(ctx context.Context, o pulumi.Output) (internals.UnsafeAwaitOutputResult, error) {
	return internals.UnsafeAwaitOutput(ctx, o)
}

// Golden compares got with testdata/<name>, or rewrites the file with -update.
func Golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update if the change is intended)\n--- want\n%s--- got\n%s", path, want, got)
	}
}
