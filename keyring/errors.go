package keyring

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// UsageError is a rule violation in what the user typed (a bad name, key
// or value). The CLI maps it to exit code 2.
type UsageError struct {
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// UnavailableError says the OS keyring cannot be used, why, and what to do
// about it. It wraps ErrUnavailable and the original library error.
type UnavailableError struct {
	// Reason is one sentence on what is missing or what went wrong.
	Reason string
	// ConfigDir is where the file backend would keep its values.
	ConfigDir string
	// Err is the library error behind it, if any.
	Err error
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s.\n", ErrUnavailable, e.Reason)
	b.WriteString("kitaru keeps secret values in the OS keyring; on Linux that is a Secret Service\n")
	b.WriteString("(for example gnome-keyring) on a D-Bus session bus, which a desktop session starts.\n")
	b.WriteString("Without a desktop, start one for a command like this:\n")
	b.WriteString("  dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; kitaru ...'\n")
	b.WriteString("Provider keys work without any keyring: set OPENAI_API_KEY, ANTHROPIC_API_KEY or\n")
	b.WriteString("OPENROUTER_API_KEY in the environment of kitaru.\n")
	fmt.Fprintf(&b, "Or opt in to a plain file: export %s=%s keeps values in %s\n", BackendEnv, BackendFile, filepath.Join(e.ConfigDir, fileStoreName))
	b.WriteString("(mode 0600, NOT encrypted).")
	return b.String()
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }

// The exact strings go-keyring and godbus produce (measured with
// go-keyring v0.2.8 / godbus v5.2.2); matched by substring because the
// libraries do not export typed errors for them.
const (
	msgNoProvider   = "org.freedesktop.secrets was not provided"
	msgLocked       = "failed to unlock correct collection"
	msgDbusLaunch   = "dbus-launch"
	msgNoBusAddress = "couldn't determine address of session bus"
	msgBadAddress   = "invalid bus address"
)

// translate turns a go-keyring error into kitaru's: nil stays nil, "not
// found" becomes ErrNotFound, and every failure to reach the keyring
// becomes one *UnavailableError with a plain reason.
func translate(err error, configDir string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gokeyring.ErrNotFound) {
		return ErrNotFound
	}
	if errors.Is(err, gokeyring.ErrSetDataTooBig) {
		return fmt.Errorf("the secret is too large for the OS keyring; store fewer or shorter values: %w", err)
	}
	msg := err.Error()
	var reason string
	switch {
	case strings.Contains(msg, msgNoProvider):
		reason = "there is a D-Bus session bus, but no Secret Service (org.freedesktop.secrets) on it: no keyring daemon such as gnome-keyring is running"
	case strings.Contains(msg, msgLocked):
		reason = "the keyring is locked, or has no default collection, and could not be unlocked (the unlock prompt was dismissed, or no prompt can be shown without a desktop)"
	case strings.Contains(msg, msgDbusLaunch), strings.Contains(msg, msgNoBusAddress):
		reason = "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
	case strings.Contains(msg, msgBadAddress):
		reason = "DBUS_SESSION_BUS_ADDRESS does not hold a usable D-Bus address (" + msg + ")"
	case isDialError(msg):
		reason = "the D-Bus session bus in DBUS_SESSION_BUS_ADDRESS cannot be reached (" + msg + ")"
	default:
		reason = "the keyring failed: " + msg
	}
	return &UnavailableError{Reason: reason, ConfigDir: configDir, Err: err}
}

func isDialError(msg string) bool {
	for _, s := range []string{"dial unix", "no such file or directory", "connection refused", "EOF", "connection reset", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func timeoutError(d time.Duration, configDir string) error {
	return &UnavailableError{
		Reason:    fmt.Sprintf("the keyring did not answer within %s (an unlock prompt may be waiting on a desktop, or the D-Bus session is stuck)", d),
		ConfigDir: configDir,
	}
}
