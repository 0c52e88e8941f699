package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

func TestParseTimeFlag(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{"empty", "", time.Time{}, false},
		{"rfc3339", "2026-05-01T12:00:00+02:00", time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), false},
		{"date", "2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), false},
		{"junk", "yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimeFlag(tt.in)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Fatalf("ParseTimeFlag(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func TestExportToFile(t *testing.T) {
	store := NewMemStore()
	key := mustKey(t)
	cp := NewCheckpointer(store, key, CheckpointPolicy{})
	l := mustRunLog(t, store, LogOptions{})
	for i := 0; i < 10; i++ {
		mustAppend(t, l, testEntry(testOrg, i))
	}
	path := filepath.Join(t.TempDir(), "wake.jsonl")
	admin := Actor{Kind: ActorUser, ID: "user-1"}
	res, err := ExportToFile(context.Background(), l, store, cp, ExportRequest{OrgID: testOrg}, admin, path)
	if err != nil {
		t.Fatal(err)
	}
	if res.EndSeq != 11 {
		t.Fatalf("exported up to %d, want 11 (10 entries and the export's own)", res.EndSeq)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("bundle mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	rep, err := VerifyFile(path, VerifyOptions{PinnedKey: key.VerifierKey})
	if err != nil || rep.Entries != 11 {
		t.Fatalf("VerifyFile = %+v, %v", rep, err)
	}
	last, _ := store.ReadEntries(context.Background(), testOrg, 10, 11)
	if last[0].Action != ActionExport || last[0].Actor != admin {
		t.Fatalf("export not recorded: %+v", last[0])
	}
	if _, err := ExportToFile(context.Background(), l, store, cp, ExportRequest{OrgID: testOrg}, admin, path); !porthole.IsCode(err, porthole.ECONFLICT) {
		t.Fatalf("second export to the same file = %v, want ECONFLICT", err)
	}
}

func TestPurgeExpiredPayloads(t *testing.T) {
	store := NewMemStore()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	l := mustRunLog(t, store, LogOptions{Now: func() time.Time { return now }})
	mustAppend(t, l, testEntry(testOrg, 0))
	now = start.Add(10 * 24 * time.Hour)
	mustAppend(t, l, testEntry(testOrg, 1))
	settings := porthole.DefaultSettings(testOrg)
	settings.AuditPayloadRetentionDays = 5
	n, err := PurgeExpiredPayloads(context.Background(), store, settings, now)
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpiredPayloads = %d, %v; want 1", n, err)
	}
}
