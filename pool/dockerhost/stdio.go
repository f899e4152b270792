package dockerhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

// dialCommand starts name args and returns a connection over its stdin and stdout: what `ssh
// host docker system dial-stdio` offers is a raw connection to the remote engine's socket.
// Closing the connection ends the command. On Linux the command dies with this process.
func dialCommand(ctx context.Context, name string, args ...string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(pool.ChildEnv(os.Environ()), "LC_ALL=C")
	// Our own pipes, not StdinPipe/StdoutPipe: Wait (which runs as soon as the command starts)
	// would close those under a reader that has not finished.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	stderr := &tail{max: 2 << 10}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	done, err := startDyingWithParent(cmd)
	inR.Close() // the command's ends
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &cmdConn{cmd: cmd, done: done, stdin: inW, stdout: outR, stderr: stderr, name: name}, nil
}

// cmdConn is a net.Conn over a command's stdin and stdout. Deadlines are not supported (the
// HTTP transport bounds requests by their contexts, which close the connection).
type cmdConn struct {
	cmd    *exec.Cmd
	done   <-chan error // cmd.Wait's result
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *tail
	name   string

	once sync.Once
	err  error
}

func (c *cmdConn) Read(b []byte) (int, error) {
	n, err := c.stdout.Read(b)
	if err == io.EOF && n == 0 {
		if msg := c.stderr.String(); msg != "" {
			return 0, fmt.Errorf("%s: %s: %w", c.name, msg, io.EOF)
		}
	}
	return n, err
}

func (c *cmdConn) Write(b []byte) (int, error) { return c.stdin.Write(b) }

func (c *cmdConn) Close() error {
	c.once.Do(func() {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Kill()
		err := <-c.done
		_ = c.stdout.Close()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			c.err = err
		}
	})
	return c.err
}

func (c *cmdConn) LocalAddr() net.Addr              { return cmdAddr(c.name) }
func (c *cmdConn) RemoteAddr() net.Addr             { return cmdAddr(c.name) }
func (c *cmdConn) SetDeadline(time.Time) error      { return nil }
func (c *cmdConn) SetReadDeadline(time.Time) error  { return nil }
func (c *cmdConn) SetWriteDeadline(time.Time) error { return nil }

type cmdAddr string

func (a cmdAddr) Network() string { return "cmd" }
func (a cmdAddr) String() string  { return string(a) }

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
