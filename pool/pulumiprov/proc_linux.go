package pulumiprov

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runDyingWithParent runs cmd so that it gets SIGKILL the moment this process dies, however it
// dies (Pdeathsig): a killed daemon never leaves its Pulumi CLI running an update. The signal
// fires when the *thread* that started the child ends, so the command is started and waited for
// on a thread locked for its whole life; the goroutine then exits still locked, which ends that
// thread instead of handing it back to the scheduler. The CLI stays in the daemon's process
// group (no Setpgid), so a signal to the group reaches it too.
//
// Plugins are the CLI's children, started in process groups of their own: they do not get the
// signal. pulumiprov sweeps them up (sweepOrphans) when the next daemon starts or recovers the
// stack; a provider built on the Pulumi SDK also exits by itself within 5 minutes once its engine
// is gone.
func runDyingWithParent(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- cmd.Run()
	}()
	return <-done
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's start time: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

var bootTime = sync.OnceValue(func() time.Time {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(s, 0)
			}
		}
	}
	return time.Time{}
})

// procStat reads a process's state, parent and start (in clock ticks since boot).
func procStat(pid int) (state byte, ppid int, startTicks int64, err error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	// pid (comm) state ppid … starttime is field 22; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 20 {
		return 0, 0, 0, errors.New("malformed stat")
	}
	ppid, _ = strconv.Atoi(f[1])
	startTicks, err = strconv.ParseInt(f[19], 10, 64)
	return f[0][0], ppid, startTicks, err
}

// processAlive reports whether a process pid runs on this machine and started no later than
// notAfter (a later one reuses the pid of one that is gone).
func processAlive(pid int, notAfter time.Time) bool {
	if pid <= 0 {
		return false
	}
	state, _, ticks, err := procStat(pid)
	if err != nil || state == 'Z' || state == 'X' {
		return false
	}
	boot := bootTime()
	if boot.IsZero() {
		return true // cannot tell: alive
	}
	start := boot.Add(time.Duration(ticks) * time.Second / clockTicks)
	return !start.After(notAfter.Add(2 * time.Second)) // btime is whole seconds
}

// ownerEnv names, in the environment of every CLI this process starts (and so of the plugins
// the CLI starts), the process that owns them: "<pid>@<start ticks>".
const ownerEnv = "TENANTPOOL_PULUMI_OWNER"

var ownerToken = sync.OnceValue(func() string {
	_, _, ticks, _ := procStat(os.Getpid())
	return fmt.Sprintf("%d@%d", os.Getpid(), ticks)
})

// ownerAlive reports whether the process a token names still runs (same pid, same start).
func ownerAlive(token string) bool {
	p, t, ok := strings.Cut(token, "@")
	pid, err1 := strconv.Atoi(p)
	ticks, err2 := strconv.ParseInt(t, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return true // not ours to judge
	}
	state, _, now, err := procStat(pid)
	return err == nil && state != 'Z' && state != 'X' && now == ticks
}

// orphan is a Pulumi process whose owner is gone.
type orphan struct {
	pid int
	cmd string
}

// sweepOrphans kills the processes that a dead owner started with PULUMI_HOME home: the CLIs and
// plugins of a daemon that was killed (their environment names the owner, see ownerEnv). Only
// processes this user may read are seen.
func sweepOrphans(home string) ([]orphan, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var killed []orphan
	var errs []error
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone, or not ours to read
		}
		var owner, pulumiHome string
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte(ownerEnv+"=")); ok {
				owner = string(v)
			} else if v, ok := bytes.CutPrefix(kv, []byte("PULUMI_HOME=")); ok {
				pulumiHome = string(v)
			}
		}
		if owner == "" || pulumiHome != home || ownerAlive(owner) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill orphan %d: %w", pid, err))
			continue
		}
		killed = append(killed, orphan{pid: pid, cmd: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))})
	}
	return killed, errors.Join(errs...)
}
