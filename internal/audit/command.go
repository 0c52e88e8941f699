package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// This file holds what `porthole audit export` and `porthole audit verify`
// need beyond Export and Verify, so cmd/porthole only parses flags and
// wires concrete types.

// ParseTimeFlag parses a --since or --until value: RFC 3339
// ("2026-05-01T12:00:00Z") or a UTC date ("2026-05-01", meaning its
// midnight). The empty string is the zero time (no bound).
func ParseTimeFlag(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, porthole.Errorf(porthole.EINVALID, "invalid time %q: want RFC 3339 (2026-05-01T12:00:00Z) or a date (2026-05-01)", s)
}

// ExportToFile records the export in the organization's log (ActionExport,
// by actor), then writes the bundle to path. The file is written under a
// temporary name, synced and renamed, so path holds either nothing or a
// whole bundle; it is created readable by its owner only, as it holds the
// payloads. An existing file at path is refused rather than replaced.
func ExportToFile(ctx context.Context, log *Log, store Store, cp *Checkpointer, req ExportRequest, actor Actor, path string) (ExportResult, error) {
	if _, err := os.Lstat(path); err == nil {
		return ExportResult{}, porthole.Errorf(porthole.ECONFLICT, "%s exists; choose another --out", path)
	}
	if _, err := log.Append(ctx, Entry{
		OrgID:  req.OrgID,
		Actor:  actor,
		Action: ActionExport,
		Target: "bundle:" + filepath.Base(path),
		Reason: "audit export",
		Payload: Payload(map[string]string{
			"since": formatBundleTime(req.Since),
			"until": formatBundleTime(req.Until),
		}),
	}); err != nil {
		return ExportResult{}, fmt.Errorf("audit: unable to record the export: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return ExportResult{}, fmt.Errorf("audit: unable to create the bundle: %w", err)
	}
	defer os.Remove(tmp.Name())
	res, err := Export(ctx, store, cp, req, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ExportResult{}, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return ExportResult{}, fmt.Errorf("audit: unable to write %s: %w", path, err)
	}
	return res, nil
}

// PurgeExpiredPayloads purges the payloads of the organization's entries
// older than its AuditPayloadRetentionDays. Entries keep their commitments,
// so the log still verifies.
func PurgeExpiredPayloads(ctx context.Context, store Store, settings porthole.Settings, now time.Time) (int64, error) {
	if settings.AuditPayloadRetentionDays < 1 {
		return 0, porthole.Errorf(porthole.EINVALID, "audit_payload_retention_days must be at least 1")
	}
	before := now.Add(-time.Duration(settings.AuditPayloadRetentionDays) * 24 * time.Hour)
	n, err := store.PurgePayloads(ctx, settings.OrgID, before)
	if err != nil {
		return 0, fmt.Errorf("audit: unable to purge payloads of %q: %w", settings.OrgID, err)
	}
	return n, nil
}
