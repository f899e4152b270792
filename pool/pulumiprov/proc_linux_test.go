package pulumiprov

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const dieHelperEnv = "PULUMIPROV_DIE_HELPER"

// TestDieWithParentHelper is not a test: run by TestCommandDiesWithItsParent in a process of
// its own, it runs a command the way the CLI is run and waits.
func TestDieWithParentHelper(t *testing.T) {
	pidFile := os.Getenv(dieHelperEnv)
	if pidFile == "" {
		t.Skip("helper process")
	}
	// sh writes its pid, then becomes sleep (same process, the parent-death signal kept), which
	// writes nothing: nothing but that signal ends it early.
	err := runDyingWithParent(exec.Command("sh", "-c", `echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 600`, pidFile))
	t.Fatalf("the command returned: %v", err)
}

// A command run like the CLI dies the moment the process that ran it is SIGKILLed, even though
// it neither reads nor writes anything that would tell it.
func TestCommandDiesWithItsParent(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	helper := exec.Command(os.Args[0], "-test.run=^TestDieWithParentHelper$")
	helper.Env = append(os.Environ(), dieHelperEnv+"="+pidFile)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if raw, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
			break
		}
		if time.Now().After(deadline) {
			helper.Process.Kill()
			t.Fatal("the helper's command did not start")
		}
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !processAlive(pid, time.Now()) {
		t.Fatalf("command %d is not running", pid)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	for deadline := time.Now().Add(10 * time.Second); processAlive(pid, time.Now()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("command %d outlived its parent by 10s", pid)
		}
	}
}
