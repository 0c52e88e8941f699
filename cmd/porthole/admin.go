package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/api"
	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/config"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/secrets"
	"github.com/porthole-chat/porthole/internal/store"
)

func cmdAdmin(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "create-owner":
		return adminCreateOwner(ctx, e, args[1:])
	case "create-api-key":
		return adminCreateAPIKey(ctx, e, args[1:])
	case "reset-password":
		return adminResetPassword(ctx, e, args[1:])
	case "rotate-master-key":
		return adminRotateMasterKey(ctx, e, args[1:])
	}
	return fmt.Errorf("unknown admin command %q (create-owner, create-api-key, reset-password, rotate-master-key)", args[0])
}

// openStore opens and migrates the store the way serve does.
func openStore(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	return store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, Migrate: true})
}

// readPassword reads one line from stdin: the password exactly as typed,
// with only the line ending removed.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(r, 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("cannot read the password from stdin: %v", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", errors.New("no password on stdin (write it as one line to standard input)")
	}
	return line, nil
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func adminCreateOwner(ctx context.Context, e env, args []string) error {
	var email, orgName string
	cfg, _, err := parseFlags(e, "admin create-owner", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the owner's email (required)")
		fs.StringVar(&orgName, "org", "", "the organization's name (required)")
	})
	if err != nil {
		return err
	}
	if email == "" || orgName == "" {
		return errors.New("create-owner needs --email and --org")
	}
	password, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem}, "porthole admin create-owner")
	user, err := db.CreateUser(ctx, email, "", hash)
	if err != nil {
		return err
	}
	org, err := db.CreateOrganization(ctx, orgName)
	if err != nil {
		return err
	}
	if _, err := db.Tenant(org.ID).AddMember(ctx, user.ID, porthole.RoleOwner); err != nil {
		return err
	}
	return printJSON(e.stdout, map[string]string{"organization_id": org.ID, "user_id": user.ID})
}

func adminCreateAPIKey(ctx context.Context, e env, args []string) error {
	var orgID, name, scopes string
	cfg, _, err := parseFlags(e, "admin create-api-key", args, func(fs *flag.FlagSet) {
		fs.StringVar(&orgID, "org", "", "organization id (required)")
		fs.StringVar(&name, "name", "", "a name to tell the key apart (required)")
		fs.StringVar(&scopes, "scopes", "", "comma-separated permissions, like chatbots:read,origins:write (default: all)")
	})
	if err != nil {
		return err
	}
	if orgID == "" || name == "" {
		return errors.New("create-api-key needs --org and --name")
	}
	if !porthole.ValidID(orgID) {
		return errors.New("--org is not an organization id")
	}
	list := api.AllScopes()
	if scopes != "" {
		list = nil
		for _, s := range strings.Split(scopes, ",") {
			s = strings.TrimSpace(s)
			if !api.ValidScope(s) {
				return fmt.Errorf("unknown scope %q (known: %s)", s, strings.Join(api.AllScopes(), ","))
			}
			list = append(list, s)
		}
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Tenant(orgID).Organization(ctx); err != nil {
		return fmt.Errorf("organization %s: %v", orgID, porthole.ErrorMessage(err))
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorSystem}, "porthole admin create-api-key")
	key, prefix, hash := auth.NewAPIKey(orgID)
	k, err := db.Tenant(orgID).CreateAPIKey(ctx, porthole.APIKey{Name: name, Prefix: prefix, Scopes: list}, hash)
	if err != nil {
		return err
	}
	return printJSON(e.stdout, map[string]any{"id": k.ID, "key": key, "prefix": prefix, "scopes": k.Scopes,
		"note": "the key is shown once; only its hash is stored"})
}

func adminResetPassword(ctx context.Context, e env, args []string) error {
	var email string
	cfg, _, err := parseFlags(e, "admin reset-password", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's email (required)")
	})
	if err != nil {
		return err
	}
	if email == "" {
		return errors.New("reset-password needs --email")
	}
	password, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	user, _, err := db.UserByEmail(ctx, email)
	if err != nil {
		return fmt.Errorf("no user with email %s", email)
	}
	if err := resetPassword(ctx, db, user.ID, hash); err != nil {
		return err
	}
	return printJSON(e.stdout, map[string]string{"user_id": user.ID, "status": "password reset"})
}

// resetPassword sets a new hash and ends every session of the user, so a
// stolen session dies with the old password.
func resetPassword(ctx context.Context, db *store.DB, userID, hash string) error {
	if err := db.SetPasswordHash(ctx, userID, hash); err != nil {
		return err
	}
	_, err := db.RevokeUserSessions(ctx, userID, "", time.Now())
	return err
}

func adminRotateMasterKey(ctx context.Context, e env, args []string) error {
	cfg, _, err := parseFlags(e, "admin rotate-master-key", args, nil)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var k *secrets.Keyring
	if cfg.MasterKey != "" {
		k, err = secrets.ParseKeyring(cfg.MasterKey)
	} else {
		k, err = secrets.LoadKeyringFile(cfg.MasterKeyFile)
	}
	if err != nil {
		return err
	}
	v, err := secrets.NewVault(k, db.DataKeys())
	if err != nil {
		return err
	}
	n, err := v.Rotate(ctx)
	if err != nil {
		return err
	}
	return printJSON(e.stdout, map[string]any{"rewrapped": n, "primary_key": k.PrimaryID()})
}
