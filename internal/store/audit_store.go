package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// AuditLog is the SQL store of the Wake; it implements audit.Store. Its
// methods are the audit machinery's (the writer, the checkpointer, export and
// retention) and run system-wide; callers pass the organization id of the log
// they mean, taken from an authenticated principal, never from input.
type AuditLog struct{ db *DB }

// Audit returns the audit log store.
func (db *DB) Audit() *AuditLog { return &AuditLog{db: db} }

var _ audit.Store = (*AuditLog)(nil)

// maxAuditRead caps one ReadEntries call.
const maxAuditRead = 10000

// AppendBatches implements audit.Store.
func (s *AuditLog) AppendBatches(ctx context.Context, batches []audit.Batch) error {
	return s.db.systemTx(ctx, func(tx *Tx) error {
		w := auditWriter{tx: tx}
		for _, b := range batches {
			size, _, err := lockAuditHead(ctx, tx, b.OrgID)
			if err != nil {
				return err
			}
			if size != b.Start {
				return porthole.Errorf(porthole.ECONFLICT, "audit log of %s moved from %d to %d", b.OrgID, b.Start, size)
			}
			if err := w.write(ctx, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordAudit appends entries to orgID's log inside tx, the transaction of
// the change they record: both commit or neither does.
func recordAudit(ctx context.Context, tx *Tx, orgID string, now time.Time, entries ...audit.Entry) error {
	size, last, err := lockAuditHead(ctx, tx, orgID)
	if err != nil {
		return err
	}
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return readAuditHashes(ctx, tx, orgID, indexes)
	})
	b, err := audit.PrepareBatch(orgID, size, last, now, entries, reader)
	if err != nil {
		return err
	}
	w := auditWriter{tx: tx}
	return w.write(ctx, b)
}

// record appends one entry about a change of the bound tenant, attributed
// to the actor in ctx, inside the change's transaction.
func (t *Tenant) record(ctx context.Context, tx *Tx, action, target string, payload any) error {
	actor, reason := audit.ActorFrom(ctx)
	return recordAudit(ctx, tx, t.orgID, t.db.now(), audit.Entry{
		Actor: actor, Action: action, Target: target, Reason: reason, Payload: audit.Payload(payload),
	})
}

// lockAuditHead reads orgID's tree size and last entry time, locking the
// head so appends to one log are serialized (SQLite's write transactions are
// serialized already).
func lockAuditHead(ctx context.Context, tx *Tx, orgID string) (int64, time.Time, error) {
	if tx.db.dialect == Postgres {
		if _, err := tx.exec(ctx, `INSERT INTO audit_heads (org_id, tree_size, last_time) VALUES (?, 0, 0) ON CONFLICT (org_id) DO NOTHING`, orgID); err != nil {
			return 0, time.Time{}, fmt.Errorf("store: unable to create audit head: %w", err)
		}
	}
	q := `SELECT tree_size, last_time FROM audit_heads WHERE org_id = ?`
	if tx.db.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var size, last int64
	err := tx.queryRow(ctx, q, orgID).Scan(&size, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: unable to read audit head: %w", err)
	}
	var lt time.Time
	if last > 0 {
		lt = fromMillis(last)
	}
	return size, lt, nil
}

// auditWriter appends batches inside one transaction. Its statements are
// the same text every time, so both drivers run them prepared from their
// per-connection caches (sqlite_stmtcache.go; pgx's statement cache).
type auditWriter struct {
	tx *Tx
}

const (
	auditHeadUpsert = `INSERT INTO audit_heads (org_id, tree_size, last_time) VALUES (?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET tree_size = excluded.tree_size, last_time = excluded.last_time`
	// auditRowsPerInsert bounds the rows of one INSERT: a batch of up to
	// this many entries (or hashes) is one statement instead of one per
	// row (a turn's end appends three entries and about six hashes), and
	// the statement texts a connection keeps prepared stay few.
	auditRowsPerInsert = 16
)

var (
	auditEntryInsert = newMultiRowInsert(`INSERT INTO audit_entries
		(org_id, seq, time, actor_kind, actor_id, conversation_id, action, target, reason, payload, salt, commitment, purged)
		VALUES `, 13)
	auditHashInsert = newMultiRowInsert(`INSERT INTO audit_hashes (org_id, idx, hash) VALUES `, 3)
)

// multiRowInsert inserts rows auditRowsPerInsert at a time. stmts holds
// the statement of each number of rows, built once.
type multiRowInsert struct {
	stmts []string
	cols  int
}

func newMultiRowInsert(head string, cols int) multiRowInsert {
	row := "(" + placeholders(cols) + ")"
	m := multiRowInsert{stmts: make([]string, auditRowsPerInsert+1), cols: cols}
	for n := 1; n <= auditRowsPerInsert; n++ {
		m.stmts[n] = head + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	}
	return m
}

// exec inserts n rows; row appends the values of row i to args.
func (m multiRowInsert) exec(ctx context.Context, tx *Tx, n int, row func(args []any, i int) []any) error {
	for start := 0; start < n; start += auditRowsPerInsert {
		end := min(start+auditRowsPerInsert, n)
		args := make([]any, 0, m.cols*(end-start))
		for i := start; i < end; i++ {
			args = row(args, i)
		}
		if _, err := tx.exec(ctx, m.stmts[end-start], args...); err != nil {
			return err
		}
	}
	return nil
}

func (w *auditWriter) write(ctx context.Context, b audit.Batch) error {
	err := auditEntryInsert.exec(ctx, w.tx, len(b.Entries), func(args []any, i int) []any {
		e := &b.Entries[i]
		var payload, salt any
		if !e.Purged {
			payload, salt = []byte(e.Payload), e.Salt
		}
		return append(args, b.OrgID, e.Seq, millis(e.Time), string(e.Actor.Kind), e.Actor.ID, e.ConversationID,
			e.Action, e.Target, e.Reason, payload, salt, e.Commitment[:], e.Purged)
	})
	if err != nil {
		return fmt.Errorf("store: unable to append audit entries: %w", err)
	}
	first := tlog.StoredHashIndex(0, b.Start)
	err = auditHashInsert.exec(ctx, w.tx, len(b.Hashes), func(args []any, i int) []any {
		return append(args, b.OrgID, first+int64(i), b.Hashes[i][:])
	})
	if err != nil {
		return fmt.Errorf("store: unable to append audit hashes: %w", err)
	}
	if n := len(b.Entries); n > 0 {
		if _, err := w.tx.exec(ctx, auditHeadUpsert, b.OrgID, b.Start+int64(n), millis(b.Entries[n-1].Time)); err != nil {
			return fmt.Errorf("store: unable to move audit head: %w", err)
		}
	}
	return nil
}

func readAuditHashes(ctx context.Context, tx *Tx, orgID string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	found := make(map[int64]tlog.Hash, len(indexes))
	for start := 0; start < len(indexes); start += 500 {
		chunk := indexes[start:min(start+500, len(indexes))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, orgID)
		for _, idx := range chunk {
			args = append(args, idx)
		}
		rows, err := tx.query(ctx, `SELECT idx, hash FROM audit_hashes WHERE org_id = ? AND idx IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: unable to read audit hashes: %w", err)
		}
		for rows.Next() {
			var idx int64
			var h []byte
			if err := rows.Scan(&idx, &h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: unable to read audit hashes: %w", err)
			}
			var th tlog.Hash
			copy(th[:], h)
			found[idx] = th
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: unable to read audit hashes: %w", err)
		}
	}
	for i, idx := range indexes {
		h, ok := found[idx]
		if !ok {
			return nil, fmt.Errorf("store: audit hash %d of %s is not stored", idx, orgID)
		}
		out[i] = h
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// TreeSize implements audit.Store.
func (s *AuditLog) TreeSize(ctx context.Context, orgID string) (int64, time.Time, error) {
	var size int64
	var last time.Time
	err := s.db.systemTx(ctx, func(tx *Tx) error {
		var err error
		size, last, err = lockAuditHead(ctx, tx, orgID)
		return err
	})
	return size, last, err
}

// ReadHashes implements audit.Store.
func (s *AuditLog) ReadHashes(ctx context.Context, orgID string, indexes []int64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	err := s.db.systemTx(ctx, func(tx *Tx) error {
		var err error
		out, err = readAuditHashes(ctx, tx, orgID, indexes)
		return err
	})
	return out, err
}

// ReadEntries implements audit.Store.
func (s *AuditLog) ReadEntries(ctx context.Context, orgID string, start, end int64) ([]audit.Entry, error) {
	if end-start > maxAuditRead {
		end = start + maxAuditRead
	}
	var out []audit.Entry
	err := s.db.systemTx(ctx, func(tx *Tx) error {
		var err error
		out, err = scanAuditEntries(tx.query(ctx, `SELECT `+auditEntryColumns+` FROM audit_entries
			WHERE org_id = ? AND seq >= ? AND seq < ? ORDER BY seq`, orgID, start, end))
		return err
	})
	return out, err
}

const auditEntryColumns = `org_id, seq, time, actor_kind, actor_id, conversation_id, action, target, reason, payload, salt, commitment, purged`

func scanAuditEntries(rows *sql.Rows, err error) ([]audit.Entry, error) {
	if err != nil {
		return nil, fmt.Errorf("store: unable to read audit entries: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var t int64
		var kind string
		var payload, salt, commitment []byte
		if err := rows.Scan(&e.OrgID, &e.Seq, &t, &kind, &e.Actor.ID, &e.ConversationID, &e.Action, &e.Target, &e.Reason,
			&payload, &salt, &commitment, &e.Purged); err != nil {
			return nil, fmt.Errorf("store: unable to read audit entries: %w", err)
		}
		e.Time, e.Actor.Kind = fromMillis(t), audit.ActorKind(kind)
		if payload != nil {
			e.Payload = payload
		}
		if salt != nil {
			e.Salt = salt
		}
		copy(e.Commitment[:], commitment)
		out = append(out, e)
	}
	return out, rows.Err()
}

// SaveCheckpoint implements audit.Store.
func (s *AuditLog) SaveCheckpoint(ctx context.Context, cp audit.Checkpoint) error {
	return s.db.systemTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO audit_checkpoints (org_id, size, root, time, note) VALUES (?, ?, ?, ?, ?)`,
			cp.OrgID, cp.Size, cp.Root[:], millis(cp.Time), cp.Note)
		if isUniqueViolation(err) || (err != nil && strings.Contains(err.Error(), "PRIMARY KEY")) {
			return porthole.Errorf(porthole.ECONFLICT, "a checkpoint of size %d exists already", cp.Size)
		}
		if err != nil {
			return fmt.Errorf("store: unable to save checkpoint: %w", err)
		}
		return nil
	})
}

// Checkpoints implements audit.Store.
func (s *AuditLog) Checkpoints(ctx context.Context, orgID string, minSize, maxSize int64) ([]audit.Checkpoint, error) {
	var out []audit.Checkpoint
	err := s.db.systemTx(ctx, func(tx *Tx) error {
		var err error
		out, err = scanCheckpoints(tx.query(ctx, `SELECT org_id, size, root, time, note FROM audit_checkpoints
			WHERE org_id = ? AND size >= ? AND size <= ? ORDER BY size`, orgID, minSize, maxSize))
		return err
	})
	return out, err
}

// LatestCheckpoint implements audit.Store.
func (s *AuditLog) LatestCheckpoint(ctx context.Context, orgID string) (audit.Checkpoint, error) {
	var out []audit.Checkpoint
	err := s.db.systemTx(ctx, func(tx *Tx) error {
		var err error
		out, err = scanCheckpoints(tx.query(ctx, `SELECT org_id, size, root, time, note FROM audit_checkpoints
			WHERE org_id = ? ORDER BY size DESC LIMIT 1`, orgID))
		return err
	})
	if err != nil {
		return audit.Checkpoint{}, err
	}
	if len(out) == 0 {
		return audit.Checkpoint{}, notFound("checkpoint")
	}
	return out[0], nil
}

func scanCheckpoints(rows *sql.Rows, err error) ([]audit.Checkpoint, error) {
	if err != nil {
		return nil, fmt.Errorf("store: unable to read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var cp audit.Checkpoint
		var root []byte
		var t int64
		if err := rows.Scan(&cp.OrgID, &cp.Size, &root, &t, &cp.Note); err != nil {
			return nil, fmt.Errorf("store: unable to read checkpoints: %w", err)
		}
		copy(cp.Root[:], root)
		cp.Time = fromMillis(t)
		out = append(out, cp)
	}
	return out, rows.Err()
}

// PendingCheckpoints implements audit.Store.
func (s *AuditLog) PendingCheckpoints(ctx context.Context) ([]audit.Head, error) {
	var out []audit.Head
	err := s.db.systemTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT h.org_id, h.tree_size, COALESCE(c.size, 0), COALESCE(c.time, 0)
			FROM audit_heads h LEFT JOIN (
				SELECT org_id, MAX(size) AS size, MAX(time) AS time FROM audit_checkpoints GROUP BY org_id
			) c ON c.org_id = h.org_id
			WHERE h.tree_size > COALESCE(c.size, 0) ORDER BY h.org_id`)
		if err != nil {
			return fmt.Errorf("store: unable to list pending checkpoints: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var h audit.Head
			var t int64
			if err := rows.Scan(&h.OrgID, &h.TreeSize, &h.CheckpointSize, &t); err != nil {
				return fmt.Errorf("store: unable to list pending checkpoints: %w", err)
			}
			if t > 0 {
				h.CheckpointTime = fromMillis(t)
			}
			out = append(out, h)
		}
		return rows.Err()
	})
	return out, err
}

// PurgePayloads implements audit.Store.
func (s *AuditLog) PurgePayloads(ctx context.Context, orgID string, before time.Time) (int64, error) {
	var n int64
	err := s.db.systemTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE audit_entries SET payload = NULL, salt = NULL, purged = ?
			WHERE org_id = ? AND time < ? AND purged = ?`, true, orgID, millis(before), false)
		if err != nil {
			return fmt.Errorf("store: unable to purge audit payloads: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// ConversationTimeline returns, in order, every audit entry of the bound
// tenant about one conversation: the replay of its decisions.
func (t *Tenant) ConversationTimeline(ctx context.Context, conversationID string) ([]audit.Entry, error) {
	if !porthole.ValidID(conversationID) {
		return nil, notFound("conversation")
	}
	var out []audit.Entry
	err := t.read(ctx, func(tx *Tx) error {
		var err error
		out, err = scanAuditEntries(tx.query(ctx, timelineQuery(t.db.dialect), t.orgID, conversationID))
		return err
	})
	return out, err
}

// timelineQuery reads a conversation's entries through the partial index
// audit_entries_conversation, not the organization's whole log. The query
// states the index's condition (a conversation id is there), which no planner
// can infer from a bound id; and SQLite, which keeps no statistics here,
// would still walk the primary key to spare itself the ORDER BY, so it is
// named. In SQLite the index is in seq order within a conversation (a
// WITHOUT ROWID table's index ends with its primary key): nothing is
// sorted.
func timelineQuery(d Dialect) string {
	from := "audit_entries"
	if d == SQLite {
		from += " INDEXED BY audit_entries_conversation"
	}
	return `SELECT ` + auditEntryColumns + ` FROM ` + from + `
		WHERE org_id = ? AND conversation_id = ? AND conversation_id <> '' ORDER BY seq LIMIT 10000`
}

// AuditEntries returns the bound tenant's newest audit entries, newest first.
func (t *Tenant) AuditEntries(ctx context.Context, limit int) ([]audit.Entry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []audit.Entry
	err := t.tx(ctx, func(tx *Tx) error {
		var err error
		out, err = scanAuditEntries(tx.query(ctx, `SELECT `+auditEntryColumns+` FROM audit_entries
			WHERE org_id = ? ORDER BY seq DESC LIMIT ?`, t.orgID, limit))
		return err
	})
	return out, err
}
