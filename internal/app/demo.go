package app

import (
	"context"
	"io"
)

// StartDemo seeds the demo business and serves the demo host page.
func (a *App) StartDemo(ctx context.Context, out io.Writer) error {
	return nil
}
