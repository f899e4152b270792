package pool_test

import (
	"slices"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

func TestChildEnvAllowList(t *testing.T) {
	in := []string{
		"PATH=/usr/bin", "HOME=/root", "TMPDIR=/tmp", "LC_ALL=C", "https_proxy=http://proxy:3128",
		"SSH_AUTH_SOCK=/run/agent", "DOCKER_CONFIG=/etc/docker", "PULUMI_ACCESS_TOKEN=pul-x", "AWS_REGION=eu-west-1",
		"POOL_SECRET_KEY=k", "POOL_ADMIN_TOKEN=t", "POOL_SMTP_PASSWORD=p", "TENANTPOOL_PULUMI=/bin/pulumi",
		"SECRET=x", "GITHUB_TOKEN=y", "=weird", "NOEQUALS",
	}
	got := pool.ChildEnv(in)
	want := []string{
		"PATH=/usr/bin", "HOME=/root", "TMPDIR=/tmp", "LC_ALL=C", "https_proxy=http://proxy:3128",
		"SSH_AUTH_SOCK=/run/agent", "DOCKER_CONFIG=/etc/docker", "PULUMI_ACCESS_TOKEN=pul-x", "AWS_REGION=eu-west-1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ChildEnv:\n got %q\nwant %q", got, want)
	}
}
