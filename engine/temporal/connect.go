package temporal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
)

// ErrUnreachable is wrapped by the error of a Temporal server that does
// not answer; ErrNoNamespace by that of a namespace it does not have.
var (
	ErrUnreachable = errors.New("Temporal does not answer")
	ErrNoNamespace = errors.New("the namespace does not exist")
)

// Dial connects to the Temporal server at address and checks that it
// has namespace. The SDK's own log is silenced: what matters reaches the
// caller as errors.
func Dial(ctx context.Context, address, namespace string) (client.Client, error) {
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace,
		Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, address, err)
	}
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var nf *serviceerror.NamespaceNotFound
	if errors.As(err, &nf) || errors.As(err, new(*serviceerror.NotFound)) {
		c.Close()
		return nil, fmt.Errorf("%w: Temporal at %s has no namespace %q", ErrNoNamespace, address, namespace)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, address, err)
	}
	return c, nil
}
