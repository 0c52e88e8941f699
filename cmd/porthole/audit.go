package main

import (
	"context"
	"errors"
)

func cmdAudit(ctx context.Context, e env, args []string) error {
	return errors.New("audit: not wired yet")
}
