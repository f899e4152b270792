package deploy

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
)

// Config is the configuration of one stack in one namespace, as the engine reads it from the
// stack file (secure values decrypted). Keys are given without the namespace; object values are
// JSON. It satisfies platform.StackConfig.
type Config struct {
	namespace string
	values    auto.ConfigMap
}

var _ platform.StackConfig = Config{}

// NewConfig returns the values of namespace ns among values (keys "<ns>:<key>").
func NewConfig(ns string, values auto.ConfigMap) Config {
	return Config{namespace: ns, values: values}
}

func (c Config) key(k string) string { return c.namespace + ":" + k }

// Get returns the value of key, "" when it is not set.
func (c Config) Get(key string) string { return c.values[c.key(key)].Value }

// Lookup returns the value of key and whether it is set.
func (c Config) Lookup(key string) (string, bool) {
	v, ok := c.values[c.key(key)]
	return v.Value, ok
}

// Secret reports whether key is a secure value in the stack file.
func (c Config) Secret(key string) bool { return c.values[c.key(key)].Secret }

// GetObject decodes the JSON value of key into output; a key that is not set leaves it as is.
func (c Config) GetObject(key string, output any) error {
	v, ok := c.values[c.key(key)]
	if !ok {
		return nil
	}
	if err := json.Unmarshal([]byte(v.Value), output); err != nil {
		return fmt.Errorf("configuration variable '%s': %w", c.key(key), err)
	}
	return nil
}

// TryObject decodes the JSON value of key into output; a key that is not set is an error.
func (c Config) TryObject(key string, output any) error {
	if _, ok := c.values[c.key(key)]; !ok {
		return fmt.Errorf("missing required configuration variable '%s'", c.key(key))
	}
	return c.GetObject(key, output)
}

// Program builds the inline program of a stack from its configuration; an error (an invalid
// configuration) stops the operation before the engine runs anything.
type Program func(Config) (pulumi.RunFunc, error)

// Platform is the platform's Program: the configuration loaded by platform.ConfigFromStack (the
// same loader `pulumi up` runs through infra/cmd/platform), validated, and platform.Program.
func Platform(c Config) (pulumi.RunFunc, error) {
	cfg, err := platform.ConfigFromStack(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", platform.ErrInvalidConfig, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return platform.Program(cfg), nil
}
