package keyring

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// service is the keyring service every kitaru secret is stored under.
const service = "kitaru"

// probeUser is looked up by Check; it breaks the name rules on purpose so
// it can never be a real secret.
const probeUser = "!kitaru-check"

// osBackend keeps values in the OS keyring and names in an index file.
type osBackend struct {
	idx       index
	configDir string
	timeout   time.Duration

	mu sync.Mutex
	// stuck is the timeout error once a call has timed out: later calls
	// fail at once instead of each waiting out the timeout again (godbus
	// would queue them behind the stuck one anyway).
	stuck error
}

func newOSBackend(configDir string, timeout time.Duration) *osBackend {
	return &osBackend{idx: index{path: filepath.Join(configDir, indexName)}, configDir: configDir, timeout: timeout}
}

func (b *osBackend) get(name string) (map[string]string, error) {
	raw, err := b.call(func() (string, error) { return gokeyring.Get(service, name) })
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, err
	}
	var values map[string]string
	if err := json.Unmarshal([]byte(raw), &values); err != nil || values == nil {
		// Never quote raw: it may be a value.
		return nil, fmt.Errorf("the keyring item for secret %q (service %q) is not what kitaru stored (a JSON object of KEY: VALUE); delete it with 'kitaru secrets delete %s' and set it again", name, service, name)
	}
	return values, nil
}

func (b *osBackend) put(name string, values map[string]string) error {
	raw, err := json.Marshal(values)
	if err != nil {
		return fmt.Errorf("cannot encode secret %q: %w", name, err)
	}
	// A damaged index is reported before the keyring changes.
	if _, err := b.idx.read(); err != nil {
		return err
	}
	if _, err := b.call(func() (string, error) { return "", gokeyring.Set(service, name, string(raw)) }); err != nil {
		return err
	}
	if err := b.idx.update(name, sortedKeys(values)); err != nil {
		return fmt.Errorf("secret %q is stored in the keyring, but its name could not be added to the index, so 'kitaru secrets list' will not show it: %w", name, err)
	}
	return nil
}

func (b *osBackend) remove(name string) error {
	_, err := b.call(func() (string, error) { return "", gokeyring.Delete(service, name) })
	missing := errors.Is(err, ErrNotFound)
	if err != nil && !missing {
		return err
	}
	// The index may list a secret whose item was removed outside kitaru:
	// deleting it then just tidies the index.
	listed, ierr := b.idx.remove(name)
	if ierr != nil {
		return ierr
	}
	if missing && !listed {
		return notFound(name)
	}
	return nil
}

func (b *osBackend) list() ([]Secret, error) { return b.idx.list() }

func (b *osBackend) check() error {
	_, err := b.call(func() (string, error) { return gokeyring.Get(service, probeUser) })
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// call runs one go-keyring operation with a deadline, because the library
// has none: a desktop unlock prompt or a stuck bus would hang kitaru. On
// timeout the goroutine is left behind; it ends with the process.
func (b *osBackend) call(op func() (string, error)) (string, error) {
	if reason := missingSessionBus(); reason != "" {
		return "", &UnavailableError{Reason: reason, ConfigDir: b.configDir}
	}
	b.mu.Lock()
	stuck := b.stuck
	b.mu.Unlock()
	if stuck != nil {
		return "", stuck
	}
	type result struct {
		value string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			// go-keyring type-asserts D-Bus replies; a surprising reply
			// must not kill the process from a goroutine no one recovers.
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("unexpected reply from the keyring: %v", r)}
			}
		}()
		v, err := op()
		done <- result{v, err}
	}()
	timer := time.NewTimer(b.timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.value, translate(r.err, b.configDir)
	case <-timer.C:
		err := timeoutError(b.timeout, b.configDir)
		b.mu.Lock()
		b.stuck = err
		b.mu.Unlock()
		return "", err
	}
}

// missingSessionBus returns why there is no D-Bus session bus to try, or
// "". Without this check godbus would run dbus-launch, which (with dbus-x11
// installed) starts a bus daemon that outlives kitaru.
func missingSessionBus() string {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		return ""
	}
	switch a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a {
	case "disabled:":
		return "the D-Bus session bus is turned off (DBUS_SESSION_BUS_ADDRESS=disabled:)"
	case "", "autolaunch:":
	default:
		return ""
	}
	// The same places godbus looks before it falls back to dbus-launch.
	runDir := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	for _, f := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err == nil {
			return ""
		}
	}
	return "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set and " + runDir + "/bus does not exist)"
}
