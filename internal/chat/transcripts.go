package chat

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Export formats.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// maxExportConversations caps one range export.
const maxExportConversations = 500

// ExportQuery selects transcripts: one conversation, or every conversation
// the caller may see with activity in [Since, Until), optionally of one
// chatbot.
type ExportQuery struct {
	ConversationID string
	ChatbotID      string
	Since, Until   time.Time
	Format         string // FormatJSON or FormatCSV
	IncludeNotes   bool
}

// Transcript is one conversation in an export.
type Transcript struct {
	store.InboxConversation
	Events []store.Event `json:"events"`
	Notes  []store.Note  `json:"notes,omitempty"`
}

// ExportTranscripts writes the transcripts q selects, within p's grants and
// each chatbot's sharing policy, to w, after recording the export
// (conversation.export) in the Wake. A conversation p may not see is
// ENOTFOUND (and a security event). It returns how many conversations it
// wrote.
func (s *Service) ExportTranscripts(ctx context.Context, p auth.Principal, q ExportQuery, w io.Writer) (int, error) {
	if q.Format != FormatJSON && q.Format != FormatCSV {
		return 0, porthole.Errorf(porthole.EINVALID, "format must be json or csv")
	}
	tn := s.db.Tenant(p.Org)
	var convs []store.InboxConversation
	if q.ConversationID != "" {
		c, err := s.conversationFor(ctx, p, q.ConversationID, auth.ReadAccess)
		if err != nil {
			return 0, err
		}
		convs = []store.InboxConversation{c}
	} else {
		if q.Since.IsZero() || q.Until.IsZero() || !q.Until.After(q.Since) {
			return 0, porthole.Errorf(porthole.EINVALID, "a range export needs since < until")
		}
		vis, err := s.Visibility(ctx, p)
		if err != nil {
			return 0, err
		}
		list, err := tn.InboxConversations(ctx, vis, store.InboxFilter{ChatbotID: q.ChatbotID, Limit: maxExportConversations,
			Before: q.Until.UnixMilli()})
		if err != nil {
			return 0, err
		}
		for _, c := range list {
			if !c.UpdatedAt.Before(q.Since) {
				convs = append(convs, c)
			}
		}
	}
	transcripts := make([]Transcript, 0, len(convs))
	events := 0
	for _, c := range convs {
		evs, err := tn.EventsAfter(ctx, c.ID, 0, 1000)
		if err != nil {
			return 0, err
		}
		tr := Transcript{InboxConversation: c, Events: []store.Event{}}
		for _, e := range evs {
			if q.ConversationID == "" && (e.CreatedAt.Before(q.Since) || !e.CreatedAt.Before(q.Until)) {
				continue
			}
			tr.Events = append(tr.Events, e)
		}
		if q.IncludeNotes {
			if tr.Notes, err = tn.Notes(ctx, c.ID); err != nil {
				return 0, err
			}
		}
		events += len(tr.Events)
		transcripts = append(transcripts, tr)
	}
	target := "conversations:range"
	if q.ConversationID != "" {
		target = "conversation:" + q.ConversationID
	}
	entry := audit.Entry{Actor: actorOf(p), Action: ActionExport, Target: target, Reason: "transcripts exported",
		Payload: audit.Payload(map[string]any{"format": q.Format, "conversations": len(transcripts), "events": events,
			"chatbot_id": q.ChatbotID, "since": q.Since.UnixMilli(), "until": q.Until.UnixMilli(), "include_notes": q.IncludeNotes})}
	if q.ConversationID != "" {
		entry.ConversationID = q.ConversationID
	}
	if err := tn.RecordDecision(ctx, entry); err != nil {
		return 0, err
	}
	if q.Format == FormatJSON {
		return len(transcripts), json.NewEncoder(w).Encode(map[string]any{"conversations": transcripts})
	}
	return len(transcripts), writeCSV(w, transcripts)
}

// csvSafe defuses spreadsheet formulas: a cell starting with = + - @ (or
// a tab or carriage return) is prefixed with a quote.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(w io.Writer, list []Transcript) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"conversation_id", "chatbot_id", "visitor_id", "seq", "created_at", "kind", "role", "text"})
	for _, tr := range list {
		for _, e := range tr.Events {
			if err := cw.Write([]string{tr.ID, tr.ChatbotID, tr.VisitorID, fmt.Sprint(e.Seq), e.CreatedAt.UTC().Format(time.RFC3339Nano),
				e.Kind, e.Role, csvSafe(e.Text)}); err != nil {
				return err
			}
		}
		for _, n := range tr.Notes {
			if err := cw.Write([]string{tr.ID, tr.ChatbotID, tr.VisitorID, "", n.CreatedAt.UTC().Format(time.RFC3339Nano),
				"note", "agent:" + n.AuthorID, csvSafe(n.Text)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// Analytics returns the per-day, per-chatbot figures of the conversations
// p may see, for [since, until), without automated traffic. At most 366
// days.
func (s *Service) Analytics(ctx context.Context, p auth.Principal, since, until time.Time) ([]store.AnalyticsRow, error) {
	if !until.After(since) || until.Sub(since) > 366*24*time.Hour {
		return nil, porthole.Errorf(porthole.EINVALID, "the range must be 1 to 366 days")
	}
	vis, err := s.Visibility(ctx, p)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Tenant(p.Org).ConversationAnalytics(ctx, vis, since, until)
	return nonNilSlice(rows), err
}

// FileRemover deletes attachment blobs from file storage.
type FileRemover interface {
	Remove(ctx context.Context, orgID, storageKey string) error
}

// Retention is the background worker that deletes expired conversation
// data: per organization, it applies the message retention windows (per
// channel, else the organization's) to messages, notes and attachments,
// skips conversations under legal hold, removes the knowledge of deleted
// chatbots, and records each run as retention.run with its counts.
type Retention struct {
	DB       *store.DB
	Files    FileRemover // nil: no blobs to delete
	Interval time.Duration
	Logger   *slog.Logger
}

// RetentionReport is one organization's result of a run.
type RetentionReport struct {
	OrgID  string
	Counts store.RetentionCounts
	Err    error
}

// Run runs a pass at once and then every Interval (default an hour) until
// ctx ends. A failing organization is logged and retried next pass; Run
// returns only when ctx ends.
func (r *Retention) Run(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for {
		reports, err := r.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error("retention: run failed", "err", err)
		}
		for _, rep := range reports {
			if rep.Err != nil {
				logger.Error("retention: organization skipped", "org", rep.OrgID, "err", rep.Err)
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// RunOnce runs one pass over every organization.
func (r *Retention) RunOnce(ctx context.Context) ([]RetentionReport, error) {
	orgs, err := r.DB.OrganizationIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []RetentionReport
	for _, org := range orgs {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		out = append(out, r.runOrg(ctx, org))
	}
	return out, nil
}

func (r *Retention) runOrg(ctx context.Context, orgID string) RetentionReport {
	tn := r.DB.Tenant(orgID)
	settings, err := tn.Settings(ctx)
	if err != nil {
		return RetentionReport{OrgID: orgID, Err: err}
	}
	counts, err := tn.PurgeExpired(ctx, settings, r.DB.Now())
	if err != nil {
		return RetentionReport{OrgID: orgID, Err: err}
	}
	if r.Files != nil {
		var errs []error
		for _, key := range counts.AttachmentKeys {
			if err := r.Files.Remove(ctx, orgID, key); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return RetentionReport{OrgID: orgID, Counts: counts, Err: fmt.Errorf("retention: %d attachment blobs not deleted: %w", len(errs), err)}
		}
	}
	return RetentionReport{OrgID: orgID, Counts: counts}
}
