// Command prober is the egress tests' probe, a static binary the tests put in an image FROM
// scratch and run on a tenants' bridge, and run in the network namespaces of their test hosts:
//
//	prober serve ADDR          HTTP on ADDR: GET /dial?addr=HOST:PORT opens a TCP connection to
//	                           HOST:PORT from here and answers 200 with what the peer sent first,
//	                           or 503 with why the connection failed
//	prober listen ADDR...      TCP listeners that greet every connection with their own address
//	prober dial FROM HOST:PORT one TCP connection from the local address FROM: prints what the
//	                           peer sent first, exits 1 when the connection fails
//
// The test asks the prober container (host → tenant traffic is allowed) to dial, so every
// connection it judges starts inside a tenant's network namespace, as a tenant's would.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "prober:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) < 2 {
		return errors.New("usage: prober serve ADDR | prober listen ADDR...")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1])
	case "listen":
		return listen(ctx, args[1:])
	case "dial":
		if len(args) != 3 {
			return errors.New("usage: prober dial FROM HOST:PORT")
		}
		return dial(ctx, args[1], args[2])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func serve(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dial", func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.Query().Get("addr")
		d := net.Dialer{Timeout: 2 * time.Second}
		c, err := d.DialContext(r.Context(), "tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		greeting, err := io.ReadAll(io.LimitReader(c, 256))
		if err != nil && len(greeting) == 0 {
			http.Error(w, "connected, read: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(greeting)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func listen(ctx context.Context, addrs []string) error {
	errc := make(chan error, len(addrs))
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		go func() { <-ctx.Done(); _ = l.Close() }()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					errc <- nil
					return
				}
				_, _ = fmt.Fprintf(c, "hello from %s\n", a)
				_ = c.Close()
			}
		}()
	}
	fmt.Println("listening")
	for range addrs {
		<-errc
	}
	return nil
}

// dial connects from the local address from to target and copies the peer's greeting to stdout.
func dial(ctx context.Context, from, target string) error {
	src, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(from, "0"))
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: src}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	greeting, err := io.ReadAll(io.LimitReader(c, 256))
	if err != nil && len(greeting) == 0 {
		return fmt.Errorf("connected, read: %w", err)
	}
	_, err = os.Stdout.Write(greeting)
	return err
}
