package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
)

// SecretsPassphrase selects the passphrase secrets provider (PULUMI_CONFIG_PASSPHRASE).
const SecretsPassphrase = "passphrase"

// cancelTimeout bounds stack.Cancel after an interrupted operation.
const cancelTimeout = 30 * time.Second

// Options configure a Stack.
type Options struct {
	// Dir is the project directory: it holds Pulumi.yaml, whose stackConfigDir holds the stack
	// files Pulumi.<stack>.yaml. "" finds the nearest Pulumi.yaml from the working directory
	// upwards, as the Pulumi CLI does.
	Dir string
	// Project is the project name Pulumi.yaml must declare, which is also the configuration
	// namespace handed to Program; default platform.Namespace ("tenantpool").
	Project string
	// Stack is the stack name (dev, prod; org/dev and org/project/dev are accepted, the stack
	// file is named after the last part).
	Stack string
	// BackendURL is the Pulumi backend (file://…, s3://…, https://api.pulumi.com, …). Required.
	BackendURL string
	// Home is PULUMI_HOME (plugins); "" leaves the CLI's default.
	Home string
	// SecretsProvider is used when the stack is created: "passphrase" (the default; the
	// passphrase comes from PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE) or a KMS
	// URL. An existing stack keeps the provider it has.
	SecretsProvider string
	// Command is the Pulumi CLI. Required by the operations (Open does not run it).
	Command auto.PulumiCommand
	// Env is extra environment for the CLI (the passphrase, cloud credentials, …).
	Env map[string]string
	// NoPluginDownload forbids the engine to download plugins: a missing one fails at once with
	// ErrMissingPlugin and the command that installs it.
	NoPluginDownload bool
	// Program builds the program from the stack configuration; default Platform.
	Program Program
	// Out receives the engine's progress (preview, diff, outputs); default: discarded.
	Out io.Writer
}

// Stack drives one stack of an inline program whose configuration comes from the project's
// stack file. Every operation runs the Pulumi CLI in the project directory, so the CLI reads (and
// for a new passphrase stack writes the encryption salt into) the same stack file `pulumi`
// would.
type Stack struct {
	opts    Options
	dir     string // project directory
	project string
	file    string // the stack file
	env     map[string]string
}

var stackNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*){0,2}$`)

// Open finds the project and the stack's file and checks the options. It runs nothing.
func Open(opts Options) (*Stack, error) {
	if opts.BackendURL == "" {
		return nil, errors.New("deploy: no backend URL")
	}
	if opts.Project == "" {
		opts.Project = platform.Namespace
	}
	if opts.SecretsProvider == "" {
		opts.SecretsProvider = SecretsPassphrase
	}
	if opts.SecretsProvider != SecretsPassphrase && !strings.Contains(opts.SecretsProvider, "://") {
		return nil, fmt.Errorf("secrets provider %q: want %q or a KMS URL", opts.SecretsProvider, SecretsPassphrase)
	}
	if opts.Program == nil {
		opts.Program = Platform
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if !stackNameRE.MatchString(opts.Stack) {
		return nil, fmt.Errorf("%w %q: a stack name is letters, digits, '-', '_' and '.' (dev, prod)", ErrUnknownStack, opts.Stack)
	}
	start := opts.Dir
	if start == "" {
		start = "."
	}
	projFile, err := workspace.DetectProjectPathFrom(start)
	if err != nil {
		return nil, fmt.Errorf("%w (run from the repository root, or give the project directory)", err)
	}
	if opts.Dir != "" && filepath.Dir(projFile) != mustAbs(opts.Dir) {
		return nil, fmt.Errorf("no Pulumi.yaml in %s", opts.Dir)
	}
	proj, err := workspace.LoadProject(projFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", projFile, err)
	}
	if string(proj.Name) != opts.Project {
		return nil, fmt.Errorf("%s is project %q, want %q", projFile, proj.Name, opts.Project)
	}
	short := opts.Stack[strings.LastIndex(opts.Stack, "/")+1:]
	file := workspace.ProjectStackPath(projFile, proj, tokens.QName(short))
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("%w %s: no stack file %s (stacks: %s)", ErrUnknownStack, opts.Stack, file, strings.Join(knownStacks(filepath.Dir(file)), ", "))
	}
	if dir, ok := strings.CutPrefix(opts.BackendURL, "file://"); ok {
		if err := os.MkdirAll(filepath.FromSlash(dir), 0o700); err != nil {
			return nil, fmt.Errorf("backend %s: %w", opts.BackendURL, err)
		}
	}
	env := map[string]string{
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		"PULUMI_BACKEND_URL":       opts.BackendURL,
	}
	if opts.NoPluginDownload {
		env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	return &Stack{opts: opts, dir: filepath.Dir(projFile), project: string(proj.Name), file: file, env: env}, nil
}

func mustAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// knownStacks lists the stacks that have a file in dir.
func knownStacks(dir string) []string {
	var names []string
	files, _ := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	slices.Sort(names)
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// Name is the stack's name as given.
func (s *Stack) Name() string { return s.opts.Stack }

// File is the stack file the configuration comes from.
func (s *Stack) File() string { return s.file }

// Dir is the project directory.
func (s *Stack) Dir() string { return s.dir }

// Changes counts the resource operations of a preview, refresh or destroy by kind (create,
// update, delete, replace, same, …).
type Changes map[string]int

// Pending reports whether anything would change (any kind but "same").
func (c Changes) Pending() bool {
	for op, n := range c {
		if op != "same" && n > 0 {
			return true
		}
	}
	return false
}

// open selects the stack (create: creates it in the backend when it does not exist yet). With
// build it reads the stack configuration and builds the program from it; otherwise the program
// must not run (refresh, destroy).
func (s *Stack) open(ctx context.Context, verb string, create, build bool) (auto.Stack, error) {
	if s.opts.Command == nil {
		return auto.Stack{}, errors.New("deploy: no Pulumi CLI")
	}
	program := func(*pulumi.Context) error { return fmt.Errorf("%s does not run the program", verb) }
	opts := []auto.LocalWorkspaceOption{
		auto.WorkDir(s.dir),
		auto.Pulumi(s.opts.Command),
		auto.SecretsProvider(s.opts.SecretsProvider),
		auto.EnvVars(s.env),
	}
	if s.opts.Home != "" {
		opts = append(opts, auto.PulumiHome(s.opts.Home))
	}
	sel := auto.SelectStackInlineSource
	if create {
		sel = auto.UpsertStackInlineSource
	}
	st, err := sel(ctx, s.opts.Stack, s.project, func(c *pulumi.Context) error { return program(c) }, opts...)
	if err != nil {
		if !create && auto.IsSelectStack404Error(err) {
			return auto.Stack{}, fmt.Errorf("%s %s: %w %s: nothing to %s", verb, s.opts.Stack, ErrNoStack, s.opts.BackendURL, verb)
		}
		return auto.Stack{}, classify(ctx, "select stack", s.opts.Stack, err, "", s.opts.Home)
	}
	if !build {
		return st, nil
	}
	values, err := st.GetAllConfig(ctx)
	if err != nil {
		err = classify(ctx, "read the configuration of stack", s.opts.Stack, err, "", s.opts.Home)
		if strings.Contains(err.Error(), "decrypt") {
			err = fmt.Errorf("%w (set every secure: value of %s with `pulumi config set --secret --stack %s <key>` under this stack's passphrase)", err, s.file, s.opts.Stack)
		}
		return auto.Stack{}, err
	}
	p, err := s.opts.Program(NewConfig(s.project, values))
	if err != nil {
		return auto.Stack{}, fmt.Errorf("stack %s (%s): %w", s.opts.Stack, s.file, err)
	}
	program = p
	return st, nil
}

// fail classifies an operation's error; an interrupted operation releases the stack's lock.
func (s *Stack) fail(ctx context.Context, st auto.Stack, verb string, err error, stderr *bytes.Buffer) error {
	if ctx.Err() != nil {
		cctx, done := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
		defer done()
		_ = st.Cancel(cctx) // best effort: the CLI usually released the lock when interrupted
	}
	return classify(ctx, verb, s.opts.Stack, err, stderr.String(), s.opts.Home)
}

// Preview shows what Up would change. It creates the stack in the backend when it does not
// exist yet, as `pulumi stack init` would; it changes no resource.
func (s *Stack) Preview(ctx context.Context) (Changes, error) {
	st, err := s.open(ctx, "preview", true, true)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	res, err := st.Preview(ctx, optpreview.ProgressStreams(s.opts.Out), optpreview.ErrorProgressStreams(&stderr))
	if err != nil {
		return nil, s.fail(ctx, st, "preview", err, &stderr)
	}
	c := Changes{}
	for op, n := range res.ChangeSummary {
		c[string(op)] = n
	}
	return c, nil
}

// Up creates or updates the stack's resources and returns its outputs.
func (s *Stack) Up(ctx context.Context) (auto.OutputMap, error) {
	st, err := s.open(ctx, "up", true, true)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	res, err := st.Up(ctx, optup.ProgressStreams(s.opts.Out), optup.ErrorProgressStreams(&stderr))
	if err != nil {
		return nil, s.fail(ctx, st, "up", err, &stderr)
	}
	return res.Outputs, nil
}

// Refresh brings the stack's state in line with what really exists. It never creates the stack
// and does not run the program.
func (s *Stack) Refresh(ctx context.Context) (Changes, error) {
	st, err := s.open(ctx, "refresh", false, false)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	res, err := st.Refresh(ctx, optrefresh.ProgressStreams(s.opts.Out), optrefresh.ErrorProgressStreams(&stderr))
	if err != nil {
		return nil, s.fail(ctx, st, "refresh", err, &stderr)
	}
	c := Changes{}
	if res.Summary.ResourceChanges != nil {
		for op, n := range *res.Summary.ResourceChanges {
			c[op] = n
		}
	}
	return c, nil
}

// PreviewDestroy shows what Destroy would delete. It never creates the stack.
func (s *Stack) PreviewDestroy(ctx context.Context) (Changes, error) {
	st, err := s.open(ctx, "destroy", false, false)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	res, err := st.PreviewDestroy(ctx, optdestroy.ProgressStreams(s.opts.Out), optdestroy.ErrorProgressStreams(&stderr))
	if err != nil {
		return nil, s.fail(ctx, st, "destroy preview", err, &stderr)
	}
	c := Changes{}
	for op, n := range res.ChangeSummary {
		c[string(op)] = n
	}
	return c, nil
}

// Destroy deletes every resource of the stack. The stack itself (its history and
// configuration) stays, as after `pulumi destroy`.
func (s *Stack) Destroy(ctx context.Context) error {
	st, err := s.open(ctx, "destroy", false, false)
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	if _, err := st.Destroy(ctx, optdestroy.ProgressStreams(s.opts.Out), optdestroy.ErrorProgressStreams(&stderr)); err != nil {
		return s.fail(ctx, st, "destroy", err, &stderr)
	}
	return nil
}

// Outputs returns the stack's outputs (secret values included, marked Secret).
func (s *Stack) Outputs(ctx context.Context) (auto.OutputMap, error) {
	st, err := s.open(ctx, "read outputs of", false, false)
	if err != nil {
		return nil, err
	}
	outs, err := st.Outputs(ctx)
	if err != nil {
		return nil, classify(ctx, "outputs", s.opts.Stack, err, "", s.opts.Home)
	}
	return outs, nil
}
