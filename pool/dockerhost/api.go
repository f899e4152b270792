package dockerhost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

// Container is one container as the engine lists it.
type Container struct {
	ID      string
	Name    string // without the leading slash
	Image   string
	State   string // created, running, exited, …
	Labels  map[string]string
	Created time.Time // to the second
}

// Volume is one volume as the engine lists it.
type Volume struct {
	Name      string
	Labels    map[string]string
	CreatedAt time.Time // zero if the engine did not say
}

// labelFilter is the engine's filters parameter matching every label ("key" or "key=value").
func labelFilter(labels []string) url.Values {
	q := url.Values{}
	if len(labels) > 0 {
		f, _ := json.Marshal(map[string][]string{"label": labels})
		q.Set("filters", string(f))
	}
	return q
}

// Containers lists the containers, running or not, that carry every label given as "key" or
// "key=value".
func (c *Client) Containers(ctx context.Context, labels ...string) ([]Container, error) {
	q := labelFilter(labels)
	q.Set("all", "1")
	var raw []struct {
		ID      string            `json:"Id"`
		Names   []string          `json:"Names"`
		Image   string            `json:"Image"`
		State   string            `json:"State"`
		Labels  map[string]string `json:"Labels"`
		Created int64             `json:"Created"`
	}
	if err := c.do(ctx, http.MethodGet, "/containers/json", q, nil, "", &raw); err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(raw))
	for _, r := range raw {
		name := ""
		if len(r.Names) > 0 {
			name = strings.TrimPrefix(r.Names[0], "/")
		}
		out = append(out, Container{ID: r.ID, Name: name, Image: r.Image, State: r.State, Labels: r.Labels,
			Created: time.Unix(r.Created, 0)})
	}
	return out, nil
}

// RemoveContainer stops and removes a container (not its volumes). A container that is not
// there is removed already.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	err := c.do(ctx, http.MethodDelete, "/containers/"+url.PathEscape(id), url.Values{"force": {"1"}}, nil, "", nil)
	if errors.Is(err, pool.ErrNotFound) {
		return nil
	}
	return err
}

// Volumes lists the volumes that carry every label given as "key" or "key=value".
func (c *Client) Volumes(ctx context.Context, labels ...string) ([]Volume, error) {
	var raw struct {
		Volumes []struct {
			Name      string            `json:"Name"`
			Labels    map[string]string `json:"Labels"`
			CreatedAt string            `json:"CreatedAt"`
		} `json:"Volumes"`
	}
	if err := c.do(ctx, http.MethodGet, "/volumes", labelFilter(labels), nil, "", &raw); err != nil {
		return nil, err
	}
	out := make([]Volume, 0, len(raw.Volumes))
	for _, r := range raw.Volumes {
		at, _ := time.Parse(time.RFC3339Nano, r.CreatedAt)
		out = append(out, Volume{Name: r.Name, Labels: r.Labels, CreatedAt: at})
	}
	return out, nil
}

// RemoveVolume removes a volume; one that is not there is removed already. A volume a
// container still uses is refused with an error matching ErrConflict.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	err := c.do(ctx, http.MethodDelete, "/volumes/"+url.PathEscape(name), nil, nil, "", nil)
	if errors.Is(err, pool.ErrNotFound) {
		return nil
	}
	return err
}

// CreateVolume creates a named local volume with labels ("key=value").
func (c *Client) CreateVolume(ctx context.Context, name string, labels ...string) error {
	return c.createVolume(ctx, name, nil, labels)
}

// CreateVolumeWithOptions creates a named local volume with driver options (size=…).
func (c *Client) CreateVolumeWithOptions(ctx context.Context, name string, opts map[string]string, labels ...string) error {
	return c.createVolume(ctx, name, opts, labels)
}

func (c *Client) createVolume(ctx context.Context, name string, opts map[string]string, labels []string) error {
	body, err := jsonBody(map[string]any{"Name": name, "Labels": labelMap(labels), "DriverOpts": opts})
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/volumes/create", nil, body, "application/json", nil)
}

// ContainerSpec is what RunContainer creates: a container without network access (unless
// NetworkMode says otherwise), with its labels and, optionally, a named volume mounted.
type ContainerSpec struct {
	Name   string
	Image  string
	Cmd    []string
	Labels []string // "key=value"
	Volume string   // a named volume mounted at /data ("" = none)
	// User, the capabilities and security options, and the network mode ("" = none) are
	// passed to the engine as they are.
	User        string
	CapAdd      []string
	CapDrop     []string
	SecurityOpt []string
	NetworkMode string
}

// RunContainer creates and starts a container and returns its ID.
func (c *Client) RunContainer(ctx context.Context, s ContainerSpec) (string, error) {
	id, err := c.CreateContainer(ctx, s)
	if err != nil {
		return "", err
	}
	return id, c.StartContainer(ctx, id)
}

// StartContainer starts a created container.
func (c *Client) StartContainer(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/start", nil, nil, "", nil)
}

// WaitContainer waits until the container stops and returns its exit code.
func (c *Client) WaitContainer(ctx context.Context, id string) (int, error) {
	var out struct {
		StatusCode int `json:"StatusCode"`
	}
	err := c.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/wait", nil, nil, "", &out)
	return out.StatusCode, err
}

// CreateContainer creates a container (not started) and returns its ID.
func (c *Client) CreateContainer(ctx context.Context, s ContainerSpec) (string, error) {
	host := map[string]any{"NetworkMode": "none", "CapAdd": s.CapAdd, "CapDrop": s.CapDrop, "SecurityOpt": s.SecurityOpt}
	if s.NetworkMode != "" {
		host["NetworkMode"] = s.NetworkMode
	}
	if s.Volume != "" {
		host["Binds"] = []string{s.Volume + ":/data"}
	}
	body, err := jsonBody(map[string]any{"Image": s.Image, "Cmd": s.Cmd, "User": s.User, "Labels": labelMap(s.Labels), "HostConfig": host})
	if err != nil {
		return "", err
	}
	q := url.Values{}
	if s.Name != "" {
		q.Set("name", s.Name)
	}
	var created struct {
		ID string `json:"Id"`
	}
	if err := c.do(ctx, http.MethodPost, "/containers/create", q, body, "application/json", &created); err != nil {
		return "", err
	}
	return created.ID, nil
}

// InspectContainer returns one container by ID or name; an error matching pool.ErrNotFound when
// it is not there.
func (c *Client) InspectContainer(ctx context.Context, id string) (Container, error) {
	var raw struct {
		ID      string `json:"Id"`
		Name    string `json:"Name"`
		Created string `json:"Created"`
		State   struct {
			Status string `json:"Status"`
		} `json:"State"`
		Config struct {
			Image  string            `json:"Image"`
			Labels map[string]string `json:"Labels"`
		} `json:"Config"`
	}
	if err := c.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json", nil, nil, "", &raw); err != nil {
		return Container{}, err
	}
	at, _ := time.Parse(time.RFC3339Nano, raw.Created)
	return Container{ID: raw.ID, Name: strings.TrimPrefix(raw.Name, "/"), Image: raw.Config.Image, State: raw.State.Status,
		Labels: raw.Config.Labels, Created: at}, nil
}

// ImageLabels returns the labels of a local image; an error matching pool.ErrNotFound when
// there is no such image.
func (c *Client) ImageLabels(ctx context.Context, ref string) (map[string]string, error) {
	var raw struct {
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"Config"`
	}
	if err := c.do(ctx, http.MethodGet, "/images/"+ref+"/json", nil, nil, "", &raw); err != nil {
		return nil, err
	}
	return raw.Config.Labels, nil
}

// ImportImage makes the image ref (repo:tag) from a tar of its root file system, like `docker
// import`; changes are Dockerfile instructions applied to it (`CMD ["/app"]`).
func (c *Client) ImportImage(ctx context.Context, ref string, rootfs io.Reader, changes ...string) error {
	repo, tag := ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	q := url.Values{"fromSrc": {"-"}, "repo": {repo}, "tag": {tag}}
	for _, ch := range changes {
		q.Add("changes", ch)
	}
	v, err := c.apiVersion(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v"+v+"/images/create?"+q.Encode(), rootfs)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("docker engine %s: import %s: %w", c.url, ref, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("docker engine %s: import %s: %w", c.url, ref, readAPIError(resp))
	}
	// The answer is a stream of JSON progress messages; a failure is one with "error".
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Error != "" {
			return fmt.Errorf("docker engine %s: import %s: %s", c.url, ref, m.Error)
		}
	}
	return sc.Err()
}

func labelMap(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, l := range kv {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}
