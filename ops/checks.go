package ops

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
)

// NATSCheck is healthy while the connection is up; during a reconnect it reports the state.
func NATSCheck(nc *nats.Conn) CheckFunc {
	return func(context.Context) error {
		if st := nc.Status(); st != nats.CONNECTED {
			return fmt.Errorf("nats %s", st)
		}
		return nil
	}
}
