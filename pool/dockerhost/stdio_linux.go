package dockerhost

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startDyingWithParent starts cmd so that it receives SIGKILL when this process dies (an ssh
// process never outlives the daemon) and returns cmd.Wait's result on done. The parent-death
// signal fires when the *thread* that started the child ends, so the command is started and
// waited for on a thread locked for the command's whole life; the goroutine then exits still
// locked, which ends that thread rather than returning it to the scheduler.
func startDyingWithParent(cmd *exec.Cmd) (done <-chan error, err error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started, waited := make(chan error, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return waited, nil
}
