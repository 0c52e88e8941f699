package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

func cmdAudit(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New("audit needs a command: export, verify or key")
	}
	switch args[0] {
	case "export":
		return auditExport(ctx, e, args[1:])
	case "verify":
		return auditVerify(e, args[1:])
	case "key":
		return auditKey(e, args[1:])
	}
	return fmt.Errorf("unknown audit command %q (export, verify, key)", args[0])
}

// auditExport writes an organization's bundle; the export is itself
// recorded in the organization's log.
func auditExport(ctx context.Context, e env, args []string) error {
	var orgID, out, since, until string
	cfg, _, err := parseFlags(e, "audit export", args, func(fs *flag.FlagSet) {
		fs.StringVar(&orgID, "org", "", "organization id (required)")
		fs.StringVar(&out, "out", "", "bundle file to write; refused if it exists (required)")
		fs.StringVar(&since, "since", "", "first time to include: RFC 3339 or YYYY-MM-DD (UTC)")
		fs.StringVar(&until, "until", "", "time to stop before: RFC 3339 or YYYY-MM-DD (UTC)")
	})
	if err != nil {
		return err
	}
	if orgID == "" || out == "" {
		return errors.New("audit export needs --org and --out")
	}
	if !porthole.ValidID(orgID) {
		return errors.New("--org is not an organization id")
	}
	req := audit.ExportRequest{OrgID: orgID}
	if req.Since, err = audit.ParseTimeFlag(since); err != nil {
		return fmt.Errorf("invalid --since: %v", err)
	}
	if req.Until, err = audit.ParseTimeFlag(until); err != nil {
		return fmt.Errorf("invalid --until: %v", err)
	}
	key, err := audit.LoadOrCreateSigningKey(cfg.AuditKeyFile)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Tenant(orgID).Organization(ctx); err != nil {
		return fmt.Errorf("organization %s: %v", orgID, porthole.ErrorMessage(err))
	}
	log := audit.NewLog(db.Audit(), audit.LogOptions{})
	logCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- log.Run(logCtx) }()
	defer func() { stop(); <-done }()
	cp := audit.NewCheckpointer(db.Audit(), key, audit.CheckpointPolicy{})
	res, err := audit.ExportToFile(ctx, log, db.Audit(), cp, req, audit.Actor{Kind: audit.ActorSystem}, out)
	if err != nil {
		return err
	}
	return printJSON(e.stdout, map[string]any{"file": out, "first_seq": res.FirstSeq, "end_seq": res.EndSeq,
		"tree_size": res.Checkpoint.Size, "public_key": key.VerifierKey})
}

// auditVerify checks a bundle offline: no store, no network. Exit 0 only when
// it verifies; otherwise the error names the first bad entry.
func auditVerify(e env, args []string) error {
	fs := flag.NewFlagSet("porthole audit verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	pinned := fs.String("public-key", "", "the verifier key the bundle must carry (from 'porthole audit key'); without it the bundle is only checked against its own key")
	// Accept the file before or after the flags.
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" || (fs.NArg() > 0 && file != fs.Arg(0)) {
		return errors.New("audit verify needs exactly one bundle file")
	}
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("cannot read bundle %s: %v", file, errors.Unwrap(err))
	}
	rep, err := audit.VerifyFile(file, audit.VerifyOptions{PinnedKey: *pinned})
	if err != nil {
		return fmt.Errorf("bundle does not verify: %v", err)
	}
	fmt.Fprintln(e.stdout, rep.String())
	if *pinned == "" {
		fmt.Fprintln(e.stdout, "note: no --public-key given; the bundle is consistent with its own key only")
	}
	return nil
}

// auditKey prints the verifier key buyers pin.
func auditKey(e env, args []string) error {
	cfg, _, err := parseFlags(e, "audit key", args, nil)
	if err != nil {
		return err
	}
	k, err := audit.PrintableVerifierKey(cfg.AuditKeyFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, k)
	return nil
}
