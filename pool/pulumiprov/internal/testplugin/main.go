// Command testplugin is a Pulumi resource provider plugin for the provisioner's crash tests,
// installed as pulumi-resource-tenantpooltest. It speaks the real plugin protocol (the engine
// starts it, reads its port, and calls it over gRPC), so a tenant stack that uses it has what a
// stack of the Docker provider has: a plugin process beside the CLI, and a create in flight that
// the engine records as a pending operation.
//
// Its one resource, tenantpooltest:index:Container, takes these inputs:
//   - docker, image, slug: when docker is set, Create runs a container named tenant-<slug> of
//     image with the tenant labels on that engine (its ID is the resource's ID), as the Docker
//     provider would, and Delete removes it;
//   - blockFile: when that file exists at Create, the plugin writes blockFile+".started" (its
//     pid) after creating the container, and the create never returns: the update is stuck
//     mid-way, as one whose daemon is killed;
//   - envFile: when set, Create writes the plugin's whole environment there (one KEY=value a
//     line), so a test can see what a provider plugin inherits from the daemon.
//
// It is never shipped.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
)

func main() {
	flag.Parse() // the engine may pass logging and tracing flags; its address comes last
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testplugin:", err)
		os.Exit(1)
	}
}

func run() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	pulumirpc.RegisterResourceProviderServer(srv, &provider{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; srv.Stop() }()
	fmt.Printf("%d\n", ln.Addr().(*net.TCPAddr).Port) // the protocol: the port, first thing on stdout
	return srv.Serve(ln)
}

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
}

func (*provider) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: "0.0.1"}, nil
}

func (*provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (*provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (*provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true}, nil
}

func (*provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (*provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, news := req.GetOldInputs().AsMap(), req.GetNews().AsMap()
	for _, k := range []string{"docker", "image", "slug"} {
		if fmt.Sprint(olds[k]) != fmt.Sprint(news[k]) {
			return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: []string{k},
				DeleteBeforeReplace: true}, nil
		}
	}
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func (*provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	in := req.GetProperties().AsMap()
	if f := str(in, "envFile"); f != "" {
		if err := os.WriteFile(f, []byte(strings.Join(os.Environ(), "\n")), 0o600); err != nil {
			return nil, err
		}
	}
	id := ""
	if docker := str(in, "docker"); docker != "" {
		c, err := dockerhost.Dial(docker)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		slug := str(in, "slug")
		id, err = c.RunContainer(ctx, dockerhost.ContainerSpec{Name: "tenant-" + slug, Image: str(in, "image"),
			Labels: []string{"tenantpool.managed=true", "tenantpool.slug=" + slug, "tenantpool.tier=basic"}})
		if err != nil {
			return nil, fmt.Errorf("Unable to create container: %w", err)
		}
	} else {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = "thing-" + hex.EncodeToString(b)
	}
	if block := str(in, "blockFile"); block != "" {
		if _, err := os.Stat(block); err == nil {
			if err := os.WriteFile(block+".started", []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
				return nil, err
			}
			<-ctx.Done() // until the engine goes away; the process itself stays
			return nil, ctx.Err()
		}
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: req.GetProperties()}, nil
}

func (*provider) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	in := req.GetInputs().AsMap()
	if docker := str(in, "docker"); docker != "" {
		c, err := dockerhost.Dial(docker)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		if _, err := c.InspectContainer(ctx, req.GetId()); errors.Is(err, pool.ErrNotFound) {
			return &pulumirpc.ReadResponse{}, nil // gone: the engine drops it from the state
		} else if err != nil {
			return nil, err
		}
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (*provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return &pulumirpc.UpdateResponse{Properties: req.GetNews()}, nil
}

func (*provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*pbempty.Empty, error) {
	if docker := str(req.GetProperties().AsMap(), "docker"); docker != "" {
		c, err := dockerhost.Dial(docker)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		if err := c.RemoveContainer(ctx, req.GetId()); err != nil {
			return nil, err
		}
	}
	return &pbempty.Empty{}, nil
}

func (*provider) Cancel(context.Context, *pbempty.Empty) (*pbempty.Empty, error) {
	return &pbempty.Empty{}, nil
}
