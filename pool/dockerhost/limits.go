package dockerhost

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Info is what the engine's /info says about its storage.
type Info struct {
	// Driver is the storage driver (overlay2, btrfs, zfs, …).
	Driver string
	// BackingFilesystem is the storage driver's "Backing Filesystem" status (xfs, extfs, …);
	// empty when the driver states none.
	BackingFilesystem string
	// DockerRootDir is the engine's data directory (volumes live under it).
	DockerRootDir string
}

// Info asks the engine's /info.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var raw struct {
		Driver        string      `json:"Driver"`
		DriverStatus  [][2]string `json:"DriverStatus"`
		DockerRootDir string      `json:"DockerRootDir"`
	}
	if err := c.do(ctx, http.MethodGet, "/info", nil, nil, "", &raw); err != nil {
		return Info{}, err
	}
	in := Info{Driver: raw.Driver, DockerRootDir: raw.DockerRootDir}
	for _, kv := range raw.DriverStatus {
		if kv[0] == "Backing Filesystem" {
			in.BackingFilesystem = kv[1]
		}
	}
	return in, nil
}

// StorageQuotas is whether an engine can size a container's writable layer (the storage option
// size) and a local volume (the local driver's size option), and why not.
type StorageQuotas struct {
	Layer  bool
	Volume bool
	// Why says what the host lacks and what to do; empty when both are possible.
	Why string
}

// Quotas judges what the engine's storage can size. The writable layer: overlay2 on xfs (the
// engine also needs the pquota mount option, which /info cannot show: it refuses such a
// container with "--storage-opt is supported only for overlay over xfs with 'pquota' mount
// option"), btrfs, zfs. A local volume: an xfs project quota on the engine's data directory,
// so xfs under overlay2 (the data directory's file system as /info states it).
func (in Info) Quotas() StorageQuotas {
	xfs := in.BackingFilesystem == "xfs"
	q := StorageQuotas{
		Layer:  (in.Driver == "overlay2" && xfs) || in.Driver == "btrfs" || in.Driver == "zfs",
		Volume: xfs,
	}
	if !q.Layer || !q.Volume {
		fs := in.BackingFilesystem
		if fs == "" {
			fs = "unknown"
		}
		q.Why = fmt.Sprintf("storage driver %s on file system %s: sizing a container's writable layer (disk_mb) needs overlay2 on xfs mounted with pquota, or btrfs or zfs; sizing a volume (volume_mb) needs %s on xfs mounted with pquota; put %s on such a file system, or set disk_mb and volume_mb to 0 for the tiers placed on this host",
			in.Driver, fs, in.DockerRootDir, in.DockerRootDir)
	}
	return q
}

// Resources are the limits the provisioner sets on a running tenant container through the
// Engine API (the Docker provider has no input for them).
type Resources struct {
	// PidsLimit caps the container's tasks (0 leaves it as it is).
	PidsLimit int
	// BlkioWeight is its block I/O weight, 10–1000 (0 leaves it as it is).
	BlkioWeight int
}

// UpdateResources sets r on the container id (POST /containers/{id}/update); the engine keeps
// them across restarts of the container. It returns the engine's warnings (a kernel without
// block I/O weight support discards the weight and says so).
func (c *Client) UpdateResources(ctx context.Context, id string, r Resources) ([]string, error) {
	body := map[string]any{}
	if r.PidsLimit > 0 {
		body["PidsLimit"] = r.PidsLimit
	}
	if r.BlkioWeight > 0 {
		body["BlkioWeight"] = r.BlkioWeight
	}
	b, err := jsonBody(body)
	if err != nil {
		return nil, err
	}
	var out struct {
		Warnings []string `json:"Warnings"`
	}
	if err := c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/update", nil, b, "application/json", &out); err != nil {
		return nil, err
	}
	return out.Warnings, nil
}

// ContainerResources are the limits a container has, as the engine's inspect states them.
func (c *Client) ContainerResources(ctx context.Context, id string) (Resources, error) {
	var raw struct {
		HostConfig struct {
			PidsLimit   *int `json:"PidsLimit"`
			BlkioWeight int  `json:"BlkioWeight"`
		} `json:"HostConfig"`
	}
	if err := c.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json", nil, nil, "", &raw); err != nil {
		return Resources{}, err
	}
	r := Resources{BlkioWeight: raw.HostConfig.BlkioWeight}
	if raw.HostConfig.PidsLimit != nil {
		r.PidsLimit = *raw.HostConfig.PidsLimit
	}
	return r, nil
}
