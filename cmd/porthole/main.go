// Command porthole is the whole product in one binary: the server, its
// migrations, the admin commands and the audit tools.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what a command sees of the outside world; tests pass their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

const usage = `Porthole: AI chat assistants for business websites, in one binary.

Usage:
  porthole serve [flags]                       run the server (SQLite in ./porthole-data by default)
  porthole serve --demo                        also seed a demo business and serve a demo host page
  porthole migrate [flags]                     apply database migrations and exit
  porthole admin create-owner --email E --org NAME    (password on stdin)
  porthole admin create-api-key --org ID --name N [--scopes S,...]
  porthole admin reset-password --email E             (new password on stdin)
  porthole admin rotate-master-key             re-wrap every data key under the first master key
  porthole audit export --org ID --out FILE [--since T --until T]
  porthole audit verify FILE [--public-key KEY]   (offline; exit 0 only when it verifies)
  porthole audit key                           print the verifier key buyers pin
  porthole version

Every command that touches the store takes the same --data-dir / --database-url
(and PORTHOLE_* environment variables) as serve. 'porthole serve -h' lists them.
`

// run is the program: it returns the exit status. Errors are printed as one
// line on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, e, args[1:])
	case "migrate":
		err = cmdMigrate(ctx, e, args[1:])
	case "admin":
		err = cmdAdmin(ctx, e, args[1:])
	case "audit":
		err = cmdAudit(ctx, e, args[1:])
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "porthole: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
		}
		fmt.Fprintln(stderr, "porthole: "+oneLine(err.Error()))
		return 1
	}
	return 0
}
