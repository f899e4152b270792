package pulumiprov

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

// The Docker provider's refusals, in the words the engine reports them (the Conflict answer is
// the one Docker Engine 20.10 gives for a taken name; the API-version text is the Docker client
// library's), are permanent and keep the provider's message; failures to reach the engine and
// the backend's lock refusal stay retryable.
func TestClassifyProviderRefusals(t *testing.T) {
	const conflict = `Conflict. The container name "/tenant-client07" is already in use by container "52a78111b8010f8357a540054401bf646ed10b4ee1668766d8c5ddf7a6b91812". You have to remove (or rename) that container to be able to reuse that name.`
	cases := []struct {
		name      string
		diag      string
		stderr    string
		permanent bool
		want      string // in the message
	}{
		{
			name:      "name taken",
			diag:      "sdk-v2/provider2.go:572: sdk.helper_schema: Unable to create container: Error response from daemon: " + conflict + ": provider=docker@4.10.0",
			permanent: true, want: "Unable to create container: Error response from daemon: " + conflict,
		},
		{
			name:      "engine API too old",
			diag:      `sdk-v2/provider2.go:572: sdk.helper_schema: Unable to create container: "specify health-check start interval" requires API version 1.44, but the Docker daemon API version is 1.41: provider=docker@4.10.0`,
			permanent: true, want: `"specify health-check start interval" requires API version 1.44`,
		},
		{
			name: "refusal only in the CLI's stderr",
			stderr: "  docker:index:Container (container):\n    error:   sdk-v2/provider2.go:572: sdk.helper_schema: Unable to create container: Error response from daemon: " +
				"invalid mount config for type \"volume\": invalid mount path: 'data' mount path must be absolute: provider=docker@4.10.0\n",
			permanent: true, want: "mount path must be absolute",
		},
		{
			name:      "network timeout to the engine",
			diag:      `sdk-v2/provider2.go:572: sdk.helper_schema: Unable to create container: error during connect: Post "http://edge1:2376/v1.41/containers/create?name=tenant-client07": dial tcp 10.0.0.5:2376: i/o timeout: provider=docker@4.10.0`,
			permanent: false, want: "i/o timeout",
		},
		{
			name:      "engine down",
			diag:      "sdk-v2/provider2.go:572: sdk.helper_schema: Error pinging Docker server: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?: provider=docker@4.10.0",
			permanent: false, want: "Cannot connect to the Docker daemon",
		},
		{
			name: "stack locked by another update",
			stderr: "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
				"  file:///var/lib/poold/pulumi/state/.pulumi/locks/organization/tenantpool-tenants/tenant-client07/0d7493ac.json: created by poold@edge (pid 4242) at 2026-05-01T10:00:00Z\n",
			permanent: false, want: "currently locked",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(context.Background(), op{name: "up", stack: "tenant-client07", err: errors.New("exit status 255"),
				diagnostics: tc.diag, stderr: tc.stderr})
			if pool.IsPermanent(err) != tc.permanent {
				t.Fatalf("permanent %t, want %t: %v", pool.IsPermanent(err), tc.permanent, err)
			}
			if tc.permanent != errors.Is(err, ErrRefused) {
				t.Errorf("ErrRefused %t, want %t: %v", errors.Is(err, ErrRefused), tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q lacks %q", err, tc.want)
			}
			if tc.permanent && (strings.Contains(err.Error(), "provider=docker@") || strings.Contains(err.Error(), "sdk-v2/")) {
				t.Errorf("message %q keeps the bridge's noise", err)
			}
		})
	}
}
