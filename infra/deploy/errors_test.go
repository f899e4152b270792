package deploy_test

import (
	"testing"

	"github.com/axiestudio/tenantpool/infra/deploy"
)

func TestPluginInstallHint(t *testing.T) {
	msg := "no resource plugin 'pulumi-resource-docker' found in the workspace at version v4.10.0 or on your $PATH"
	if !deploy.MissingPlugin(msg) {
		t.Error("MissingPlugin does not recognise the engine's message")
	}
	want := "install it with: PULUMI_HOME=/h pulumi plugin install resource docker v4.10.0 (or allow plugin downloads)"
	if got := deploy.PluginInstallHint(msg, "/h"); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	want = "install it with: pulumi plugin install resource docker v4.10.0 (or allow plugin downloads)"
	if got := deploy.PluginInstallHint(msg, ""); got != want {
		t.Errorf("without a home: got %q\nwant %q", got, want)
	}
}

func TestErrorLines(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Previewing\n  error: one\nnoise\nerror: two\n", "one; two"},
		{"failed to create stack: exit status 1\ncode: 1\nstdout: \nstderr: error: no passphrase\n", "no passphrase"},
		{"  just text  \n", "just text"},
	} {
		if got := deploy.ErrorLines(tc.in); got != tc.want {
			t.Errorf("ErrorLines(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
