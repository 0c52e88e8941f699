package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Kinds of knowledge sources.
const (
	KnowledgeText     = "text"
	KnowledgeMarkdown = "markdown"
	KnowledgeHTML     = "html"
	KnowledgePDF      = "pdf"
	KnowledgeURL      = "url"
	KnowledgeSitemap  = "sitemap"
)

// States of a knowledge source's ingestion job.
const (
	KnowledgePending = "pending"
	KnowledgeRunning = "running"
	KnowledgeDone    = "done"
	KnowledgeFailed  = "failed"
)

// MaxKnowledgeSearchTerms caps the terms of one full-text search.
const MaxKnowledgeSearchTerms = 32

// KnowledgeSource is one source of a chatbot's knowledge (an upload, a URL,
// a sitemap) together with the state of its ingestion job.
type KnowledgeSource struct {
	ID         string     `json:"id"`
	OrgID      string     `json:"organization_id"`
	ChatbotID  string     `json:"chatbot_id"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	URL        string     `json:"url,omitempty"`
	MaxPages   int        `json:"max_pages,omitempty"`
	Status     string     `json:"status"`
	Error      string     `json:"error,omitempty"`
	PagesDone  int        `json:"pages_done"`
	PagesTotal int        `json:"pages_total"`
	ChunkCount int        `json:"chunk_count"`
	Attempts   int        `json:"attempts"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	IngestedAt *time.Time `json:"ingested_at,omitempty"`
}

// NewKnowledgeSource is what CreateSource needs. Content is the uploaded
// document (nil for url and sitemap sources).
type NewKnowledgeSource struct {
	Kind     string
	Name     string
	URL      string
	Content  []byte
	MaxPages int
}

// KnowledgeChunk is one retrievable passage of a source.
type KnowledgeChunk struct {
	ID        string    `json:"id"`
	SourceID  string    `json:"source_id"`
	Ord       int       `json:"ord"`
	Title     string    `json:"title,omitempty"`
	URL       string    `json:"url,omitempty"`
	Text      string    `json:"text"`
	Embedding []float32 `json:"-"`
}

// KnowledgeHit is a chunk found by a search, with the search's score
// (higher is better; comparable only within one result list).
type KnowledgeHit struct {
	KnowledgeChunk
	Score float64 `json:"score"`
}

// KnowledgeVector is the stored embedding of one chunk.
type KnowledgeVector struct {
	ChunkID string
	Vector  []float32
}

// KnowledgeJob is a claimed ingestion job: the source to ingest and the
// token that proves the claim is still the worker's.
type KnowledgeJob struct {
	OrgID     string
	ChatbotID string
	SourceID  string
	Token     string
	Attempts  int
}

// KnowledgeBase is the store bound to one knowledge namespace: one chatbot
// of one organization. Every statement it runs filters by both ids, taken
// from the handle, never from an argument.
type KnowledgeBase struct {
	t         *Tenant
	chatbotID string
}

// Knowledge returns the knowledge namespace of a chatbot of the bound
// organization. A chatbot id that is not well formed, or names no chatbot of
// this organization, yields a handle whose methods answer ENOTFOUND.
func (t *Tenant) Knowledge(chatbotID string) *KnowledgeBase {
	return &KnowledgeBase{t: t, chatbotID: chatbotID}
}

// ChatbotID returns the chatbot the namespace belongs to.
func (k *KnowledgeBase) ChatbotID() string { return k.chatbotID }

// OrgID returns the organization the namespace belongs to.
func (k *KnowledgeBase) OrgID() string { return k.t.orgID }

func (k *KnowledgeBase) tx(ctx context.Context, fn func(*Tx) error) error {
	return k.inTx(ctx, false, fn)
}

// read is tx for the namespace's read methods: a read-only transaction
// (Tenant.read), so a turn's knowledge lookup does not queue behind writers.
func (k *KnowledgeBase) read(ctx context.Context, fn func(*Tx) error) error {
	return k.inTx(ctx, true, fn)
}

func (k *KnowledgeBase) inTx(ctx context.Context, readOnly bool, fn func(*Tx) error) error {
	if !porthole.ValidID(k.chatbotID) {
		return notFound("chatbot")
	}
	return k.t.inTx(ctx, readOnly, fn)
}

const knowledgeSourceColumns = `id, org_id, chatbot_id, kind, name, url, max_pages, status, error, pages_done, pages_total,
	chunk_count, attempts, created_at, updated_at, ingested_at`

func scanKnowledgeSource(row interface{ Scan(...any) error }) (KnowledgeSource, error) {
	var s KnowledgeSource
	var created, updated int64
	var ingested sql.NullInt64
	err := row.Scan(&s.ID, &s.OrgID, &s.ChatbotID, &s.Kind, &s.Name, &s.URL, &s.MaxPages, &s.Status, &s.Error,
		&s.PagesDone, &s.PagesTotal, &s.ChunkCount, &s.Attempts, &created, &updated, &ingested)
	s.CreatedAt, s.UpdatedAt, s.IngestedAt = fromMillis(created), fromMillis(updated), fromNullMillis(ingested)
	return s, err
}

func validKnowledgeKind(kind string) bool {
	switch kind {
	case KnowledgeText, KnowledgeMarkdown, KnowledgeHTML, KnowledgePDF, KnowledgeURL, KnowledgeSitemap:
		return true
	}
	return false
}

// CreateSource adds a source to the namespace with a pending ingestion job.
func (k *KnowledgeBase) CreateSource(ctx context.Context, in NewKnowledgeSource) (KnowledgeSource, error) {
	if !validKnowledgeKind(in.Kind) {
		return KnowledgeSource{}, porthole.Errorf(porthole.EINVALID, "unknown knowledge source kind %q", in.Kind)
	}
	name, err := validName("source", in.Name)
	if err != nil {
		return KnowledgeSource{}, err
	}
	now := fromMillis(millis(k.t.db.now()))
	s := KnowledgeSource{ID: porthole.NewID(), OrgID: k.t.orgID, ChatbotID: k.chatbotID, Kind: in.Kind, Name: name,
		URL: in.URL, MaxPages: in.MaxPages, Status: KnowledgePending, CreatedAt: now, UpdatedAt: now}
	err = k.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO knowledge_sources (id, org_id, chatbot_id, kind, name, url, content, max_pages, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.OrgID, s.ChatbotID, s.Kind, s.Name, s.URL, in.Content, s.MaxPages, s.Status, millis(now), millis(now))
		if isForeignKeyViolation(err) {
			return notFound("chatbot")
		}
		if err != nil {
			return fmt.Errorf("store: unable to create knowledge source: %w", err)
		}
		return nil
	})
	return s, err
}

// Source returns one source of the namespace.
func (k *KnowledgeBase) Source(ctx context.Context, id string) (KnowledgeSource, error) {
	var s KnowledgeSource
	if !porthole.ValidID(id) {
		return s, notFound("knowledge source")
	}
	err := k.read(ctx, func(tx *Tx) error {
		var err error
		s, err = scanKnowledgeSource(tx.queryRow(ctx, `SELECT `+knowledgeSourceColumns+` FROM knowledge_sources
			WHERE org_id = ? AND chatbot_id = ? AND id = ?`, k.t.orgID, k.chatbotID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("knowledge source")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read knowledge source: %w", err)
		}
		return nil
	})
	return s, err
}

// Sources lists the namespace's sources, oldest first, with their progress.
func (k *KnowledgeBase) Sources(ctx context.Context) ([]KnowledgeSource, error) {
	var list []KnowledgeSource
	err := k.read(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT `+knowledgeSourceColumns+` FROM knowledge_sources
			WHERE org_id = ? AND chatbot_id = ? ORDER BY created_at, id`, k.t.orgID, k.chatbotID)
		if err != nil {
			return fmt.Errorf("store: unable to list knowledge sources: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			s, err := scanKnowledgeSource(rows)
			if err != nil {
				return fmt.Errorf("store: unable to list knowledge sources: %w", err)
			}
			list = append(list, s)
		}
		return rows.Err()
	})
	return list, err
}

// SourceContent returns the uploaded document of a source (nil for URL and
// sitemap sources).
func (k *KnowledgeBase) SourceContent(ctx context.Context, id string) ([]byte, error) {
	var content []byte
	if !porthole.ValidID(id) {
		return nil, notFound("knowledge source")
	}
	err := k.read(ctx, func(tx *Tx) error {
		err := tx.queryRow(ctx, `SELECT content FROM knowledge_sources WHERE org_id = ? AND chatbot_id = ? AND id = ?`,
			k.t.orgID, k.chatbotID, id).Scan(&content)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("knowledge source")
		}
		if err != nil {
			return fmt.Errorf("store: unable to read knowledge source: %w", err)
		}
		return nil
	})
	return content, err
}

// ReimportSource queues a source for ingestion again. Its current chunks stay
// searchable until the new ones replace them in one transaction; a worker
// still running the old job loses its claim.
func (k *KnowledgeBase) ReimportSource(ctx context.Context, id string) error {
	if !porthole.ValidID(id) {
		return notFound("knowledge source")
	}
	return k.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE knowledge_sources SET status = ?, error = '', pages_done = 0, pages_total = 0,
			attempts = 0, job_token = '', lease_until = 0, updated_at = ? WHERE org_id = ? AND chatbot_id = ? AND id = ?`,
			KnowledgePending, millis(k.t.db.now()), k.t.orgID, k.chatbotID, id)
		if err != nil {
			return fmt.Errorf("store: unable to requeue knowledge source: %w", err)
		}
		return expectOne(res, "knowledge source")
	})
}

// DeleteSource deletes a source and its chunks; they leave search results
// when the transaction commits.
func (k *KnowledgeBase) DeleteSource(ctx context.Context, id string) error {
	if !porthole.ValidID(id) {
		return notFound("knowledge source")
	}
	return k.tx(ctx, func(tx *Tx) error {
		// The source first, then the namespace, as ReplaceChunks does: the
		// writers of one namespace take their locks in the same order.
		lock := ""
		if k.t.db.dialect == Postgres {
			lock = " FOR UPDATE"
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM (SELECT id FROM knowledge_sources
			WHERE org_id = ? AND chatbot_id = ? AND id = ?`+lock+`) s`, k.t.orgID, k.chatbotID, id).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to read knowledge source: %w", err)
		}
		if n == 0 {
			return notFound("knowledge source")
		}
		if err := k.bumpGeneration(ctx, tx); err != nil {
			return err
		}
		// Chunks first, explicitly: the FTS triggers and the lexeme counts
		// see each row go.
		if err := k.deleteChunks(ctx, tx, id); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM knowledge_sources WHERE org_id = ? AND chatbot_id = ? AND id = ?`,
			k.t.orgID, k.chatbotID, id)
		if err != nil {
			return fmt.Errorf("store: unable to delete knowledge source: %w", err)
		}
		return expectOne(res, "knowledge source")
	})
}

// bumpGeneration advances the namespace's generation. On PostgreSQL it also
// locks the namespace row until the transaction ends, which serializes the
// writers of the namespace's lexeme counts.
func (k *KnowledgeBase) bumpGeneration(ctx context.Context, tx *Tx) error {
	_, err := tx.exec(ctx, `INSERT INTO knowledge_namespaces (org_id, chatbot_id, generation) VALUES (?, ?, 1)
		ON CONFLICT (org_id, chatbot_id) DO UPDATE SET generation = knowledge_namespaces.generation + 1`, k.t.orgID, k.chatbotID)
	if err != nil {
		return fmt.Errorf("store: unable to advance the knowledge generation: %w", err)
	}
	return nil
}

// Generation returns a number that changes whenever the namespace's chunks
// change, so a cache of its vectors can tell it is stale.
func (k *KnowledgeBase) Generation(ctx context.Context) (int64, error) {
	var gen int64
	err := k.read(ctx, func(tx *Tx) error {
		var err error
		gen, err = k.generation(ctx, tx)
		return err
	})
	return gen, err
}

func (k *KnowledgeBase) generation(ctx context.Context, tx *Tx) (int64, error) {
	var gen int64
	err := tx.queryRow(ctx, `SELECT generation FROM knowledge_namespaces WHERE org_id = ? AND chatbot_id = ?`,
		k.t.orgID, k.chatbotID).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: unable to read the knowledge generation: %w", err)
	}
	return gen, nil
}

// textIndexMergeStep is how many pages of the SQLite full-text index one
// compaction transaction merges at most: a few milliseconds of work, so
// the conversations' writes queued behind it wait little.
const textIndexMergeStep = 64

// CompactTextIndex merges the segments of SQLite's full-text index (one
// FTS5 table for every namespace) into one, a bounded step per write
// transaction, and reports how many steps did work. FTS5 writes a segment
// per transaction that adds chunks and merges them only four at a time, and
// a search seeks every segment for every query word: with one segment
// instead of three, a search over the demo's knowledge costs a third
// (docs/benchmarks.md). The knowledge worker calls it when it runs out of
// jobs. PostgreSQL's GIN index needs no such step: it does nothing there.
func (db *DB) CompactTextIndex(ctx context.Context) (int, error) {
	if db.dialect != SQLite {
		return 0, nil
	}
	steps := 0
	for ctx.Err() == nil {
		worked := false
		err := db.systemTx(ctx, func(tx *Tx) error {
			var before, after int64
			if err := tx.queryRow(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
				return err
			}
			// A negative page count merges every segment, whatever its
			// level (an incremental 'optimize').
			if _, err := tx.exec(ctx, `INSERT INTO knowledge_fts (knowledge_fts, rank) VALUES ('merge', ?)`, -textIndexMergeStep); err != nil {
				return err
			}
			if err := tx.queryRow(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
				return err
			}
			// The command itself counts as one change; merging writes more.
			worked = after-before > 1
			return nil
		})
		if err != nil {
			return steps, fmt.Errorf("store: unable to compact the full-text index: %w", err)
		}
		if !worked {
			return steps, nil
		}
		steps++
	}
	return steps, ctx.Err()
}

// ClaimKnowledgeJob claims the oldest pending ingestion job of any tenant
// (or one whose worker's lease ran out) until leaseUntil. It is system-wide:
// the worker then does all its work through the job's own namespace. A job
// that lost its lease maxAttempts times is marked failed instead. With
// nothing to do it returns ENOTFOUND.
func (db *DB) ClaimKnowledgeJob(ctx context.Context, leaseUntil time.Time, maxAttempts int) (KnowledgeJob, error) {
	var job KnowledgeJob
	token := newToken()
	now := millis(db.now())
	found := false
	err := db.systemTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE knowledge_sources SET status = ?, error = ?, job_token = '', updated_at = ?
			WHERE status = ? AND lease_until < ? AND attempts >= ?`,
			KnowledgeFailed, "ingestion was interrupted too many times", now, KnowledgeRunning, now, maxAttempts); err != nil {
			return fmt.Errorf("store: unable to fail abandoned knowledge jobs: %w", err)
		}
		lock := ""
		if db.dialect == Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		err := tx.queryRow(ctx, `UPDATE knowledge_sources SET status = ?, job_token = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE id = (SELECT id FROM knowledge_sources WHERE status = ? OR (status = ? AND lease_until < ?)
				ORDER BY updated_at, id LIMIT 1`+lock+`)
			RETURNING org_id, chatbot_id, id, attempts`,
			KnowledgeRunning, token, millis(leaseUntil), now, KnowledgePending, KnowledgeRunning, now).
			Scan(&job.OrgID, &job.ChatbotID, &job.SourceID, &job.Attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // commit the failed ones all the same
		}
		if err != nil {
			return fmt.Errorf("store: unable to claim a knowledge job: %w", err)
		}
		job.Token, found = token, true
		return nil
	})
	if err == nil && !found {
		err = notFound("knowledge job")
	}
	return job, err
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// errLostJob is returned when a worker reports on a job it no longer holds.
func errLostJob() error {
	return porthole.Errorf(porthole.ECONFLICT, "the knowledge job was requeued, deleted or taken over")
}

// JobProgress records a running job's progress and extends its lease. It
// answers ECONFLICT when the job is no longer the caller's.
func (k *KnowledgeBase) JobProgress(ctx context.Context, job KnowledgeJob, pagesDone, pagesTotal int, leaseUntil time.Time) error {
	return k.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE knowledge_sources SET pages_done = ?, pages_total = ?, lease_until = ?, updated_at = ?
			WHERE org_id = ? AND chatbot_id = ? AND id = ? AND status = ? AND job_token = ?`,
			pagesDone, pagesTotal, millis(leaseUntil), millis(k.t.db.now()), k.t.orgID, k.chatbotID, job.SourceID, KnowledgeRunning, job.Token)
		if err != nil {
			return fmt.Errorf("store: unable to record knowledge job progress: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLostJob()
		}
		return nil
	})
}

// ExtendJobLease extends a running job's lease without touching its
// progress (a long extraction or embedding step). It answers ECONFLICT
// when the job is no longer the caller's.
func (k *KnowledgeBase) ExtendJobLease(ctx context.Context, job KnowledgeJob, leaseUntil time.Time) error {
	return k.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE knowledge_sources SET lease_until = ?
			WHERE org_id = ? AND chatbot_id = ? AND id = ? AND status = ? AND job_token = ?`,
			millis(leaseUntil), k.t.orgID, k.chatbotID, job.SourceID, KnowledgeRunning, job.Token)
		if err != nil {
			return fmt.Errorf("store: unable to extend a knowledge job lease: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLostJob()
		}
		return nil
	})
}

// FailJob marks a job failed with a message safe to show in the dashboard.
func (k *KnowledgeBase) FailJob(ctx context.Context, job KnowledgeJob, message string) error {
	return k.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE knowledge_sources SET status = ?, error = ?, job_token = '', lease_until = 0, updated_at = ?
			WHERE org_id = ? AND chatbot_id = ? AND id = ? AND status = ? AND job_token = ?`,
			KnowledgeFailed, truncate(message, 1000), millis(k.t.db.now()), k.t.orgID, k.chatbotID, job.SourceID, KnowledgeRunning, job.Token)
		if err != nil {
			return fmt.Errorf("store: unable to fail knowledge job: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLostJob()
		}
		return nil
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// ReplaceChunks replaces every chunk of the job's source with chunks and
// marks the job done, in one transaction: a search sees the old chunks or
// the new ones, never a mix and never none. It answers ECONFLICT when the
// job is no longer the caller's (the source was requeued or deleted).
func (k *KnowledgeBase) ReplaceChunks(ctx context.Context, job KnowledgeJob, pages int, chunks []KnowledgeChunk) error {
	return k.tx(ctx, func(tx *Tx) error {
		lock := ""
		if k.t.db.dialect == Postgres {
			lock = " FOR UPDATE"
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM (SELECT id FROM knowledge_sources
			WHERE org_id = ? AND chatbot_id = ? AND id = ? AND status = ? AND job_token = ?`+lock+`) s`,
			k.t.orgID, k.chatbotID, job.SourceID, KnowledgeRunning, job.Token).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to read knowledge job: %w", err)
		}
		if n == 0 {
			return errLostJob()
		}
		if err := k.bumpGeneration(ctx, tx); err != nil {
			return err
		}
		if err := k.deleteChunks(ctx, tx, job.SourceID); err != nil {
			return err
		}
		if err := k.insertChunks(ctx, tx, job.SourceID, chunks); err != nil {
			return err
		}
		now := millis(k.t.db.now())
		if _, err := tx.exec(ctx, `UPDATE knowledge_sources SET status = ?, error = '', job_token = '', lease_until = 0,
			pages_done = ?, pages_total = ?, chunk_count = ?, updated_at = ?, ingested_at = ?
			WHERE org_id = ? AND chatbot_id = ? AND id = ?`,
			KnowledgeDone, pages, pages, len(chunks), now, now, k.t.orgID, k.chatbotID, job.SourceID); err != nil {
			return fmt.Errorf("store: unable to finish knowledge job: %w", err)
		}
		return nil
	})
}

// deleteChunks deletes the chunks of one source and, on PostgreSQL, takes
// them out of the namespace's lexeme counts first.
func (k *KnowledgeBase) deleteChunks(ctx context.Context, tx *Tx, sourceID string) error {
	if k.t.db.dialect == Postgres {
		// A lexeme that only these chunks had goes; the others count fewer.
		// The two statements touch disjoint rows of one snapshot.
		if _, err := tx.exec(ctx, `WITH gone AS (
				SELECT u.lexeme, count(*) AS n FROM knowledge_chunks c, unnest(c.tsv) u
				WHERE c.org_id = ? AND c.chatbot_id = ? AND c.source_id = ? GROUP BY u.lexeme
			), emptied AS (
				DELETE FROM knowledge_lexemes l USING gone
				WHERE l.org_id = ? AND l.chatbot_id = ? AND l.lexeme = gone.lexeme AND l.chunks <= gone.n
			)
			UPDATE knowledge_lexemes l SET chunks = l.chunks - gone.n FROM gone
			WHERE l.org_id = ? AND l.chatbot_id = ? AND l.lexeme = gone.lexeme AND l.chunks > gone.n`,
			k.t.orgID, k.chatbotID, sourceID, k.t.orgID, k.chatbotID, k.t.orgID, k.chatbotID); err != nil {
			return fmt.Errorf("store: unable to count knowledge lexemes: %w", err)
		}
	}
	res, err := tx.exec(ctx, `DELETE FROM knowledge_chunks WHERE org_id = ? AND chatbot_id = ? AND source_id = ?`,
		k.t.orgID, k.chatbotID, sourceID)
	if err != nil {
		return fmt.Errorf("store: unable to delete knowledge chunks: %w", err)
	}
	if k.t.db.dialect == Postgres {
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: unable to delete knowledge chunks: %w", err)
		}
		return k.addChunkCount(ctx, tx, -n)
	}
	return nil
}

// countNewChunks adds the chunks of one source, just inserted, to the
// namespace's lexeme counts (PostgreSQL only).
func (k *KnowledgeBase) countNewChunks(ctx context.Context, tx *Tx, sourceID string, n int) error {
	if _, err := tx.exec(ctx, `INSERT INTO knowledge_lexemes (org_id, chatbot_id, lexeme, chunks)
		SELECT c.org_id, c.chatbot_id, u.lexeme, count(*) FROM knowledge_chunks c, unnest(c.tsv) u
		WHERE c.org_id = ? AND c.chatbot_id = ? AND c.source_id = ?
		GROUP BY c.org_id, c.chatbot_id, u.lexeme
		ON CONFLICT (org_id, chatbot_id, lexeme) DO UPDATE SET chunks = knowledge_lexemes.chunks + excluded.chunks`,
		k.t.orgID, k.chatbotID, sourceID); err != nil {
		return fmt.Errorf("store: unable to count knowledge lexemes: %w", err)
	}
	return k.addChunkCount(ctx, tx, int64(n))
}

func (k *KnowledgeBase) addChunkCount(ctx context.Context, tx *Tx, delta int64) error {
	if delta == 0 {
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE knowledge_namespaces SET chunk_count = chunk_count + ? WHERE org_id = ? AND chatbot_id = ?`,
		delta, k.t.orgID, k.chatbotID); err != nil {
		return fmt.Errorf("store: unable to count knowledge chunks: %w", err)
	}
	return nil
}

// insertChunks writes chunks in multi-row statements (the bound parameters
// stay under SQLite's and PostgreSQL's limits). The source must have no
// chunks left: on PostgreSQL all of its chunks are then counted as new.
func (k *KnowledgeBase) insertChunks(ctx context.Context, tx *Tx, sourceID string, chunks []KnowledgeChunk) error {
	const perRow, batch = 9, 100
	for start := 0; start < len(chunks); start += batch {
		end := min(start+batch, len(chunks))
		var q strings.Builder
		q.WriteString(`INSERT INTO knowledge_chunks (id, org_id, chatbot_id, source_id, ord, title, url, text, embedding) VALUES `)
		args := make([]any, 0, (end-start)*perRow)
		for i := start; i < end; i++ {
			c := chunks[i]
			if i > start {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			var emb []byte
			if len(c.Embedding) > 0 {
				emb = EncodeVector(c.Embedding)
			}
			args = append(args, porthole.NewID(), k.t.orgID, k.chatbotID, sourceID, i, c.Title, c.URL, c.Text, emb)
		}
		if _, err := tx.exec(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("store: unable to insert knowledge chunks: %w", err)
		}
	}
	if k.t.db.dialect == Postgres && len(chunks) > 0 {
		return k.countNewChunks(ctx, tx, sourceID, len(chunks))
	}
	return nil
}

// SourceChunks returns the chunks of one source in order.
func (k *KnowledgeBase) SourceChunks(ctx context.Context, sourceID string) ([]KnowledgeChunk, error) {
	var list []KnowledgeChunk
	if !porthole.ValidID(sourceID) {
		return nil, notFound("knowledge source")
	}
	err := k.read(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT id, source_id, ord, title, url, text, embedding FROM knowledge_chunks
			WHERE org_id = ? AND chatbot_id = ? AND source_id = ? ORDER BY ord`, k.t.orgID, k.chatbotID, sourceID)
		if err != nil {
			return fmt.Errorf("store: unable to list knowledge chunks: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c KnowledgeChunk
			var emb []byte
			if err := rows.Scan(&c.ID, &c.SourceID, &c.Ord, &c.Title, &c.URL, &c.Text, &emb); err != nil {
				return fmt.Errorf("store: unable to list knowledge chunks: %w", err)
			}
			c.Embedding = DecodeVector(emb)
			list = append(list, c)
		}
		return rows.Err()
	})
	return list, err
}

// Chunks returns the namespace's chunks with the given ids (in no order);
// ids of other namespaces are silently absent.
func (k *KnowledgeBase) Chunks(ctx context.Context, ids []string) ([]KnowledgeChunk, error) {
	var valid []any
	for _, id := range ids {
		if porthole.ValidID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	if len(valid) > 500 {
		return nil, porthole.Errorf(porthole.EINVALID, "too many chunk ids")
	}
	var list []KnowledgeChunk
	err := k.read(ctx, func(tx *Tx) error {
		args := append([]any{k.t.orgID, k.chatbotID}, valid...)
		rows, err := tx.query(ctx, `SELECT id, source_id, ord, title, url, text FROM knowledge_chunks
			WHERE org_id = ? AND chatbot_id = ? AND id IN (?`+strings.Repeat(", ?", len(valid)-1)+`)`, args...)
		if err != nil {
			return fmt.Errorf("store: unable to read knowledge chunks: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c KnowledgeChunk
			if err := rows.Scan(&c.ID, &c.SourceID, &c.Ord, &c.Title, &c.URL, &c.Text); err != nil {
				return fmt.Errorf("store: unable to read knowledge chunks: %w", err)
			}
			list = append(list, c)
		}
		return rows.Err()
	})
	return list, err
}

// Vectors returns every stored embedding of the namespace with the
// namespace's generation, read in one transaction.
func (k *KnowledgeBase) Vectors(ctx context.Context) (int64, []KnowledgeVector, error) {
	var gen int64
	var list []KnowledgeVector
	err := k.read(ctx, func(tx *Tx) error {
		var err error
		if gen, err = k.generation(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.query(ctx, `SELECT id, embedding FROM knowledge_chunks
			WHERE org_id = ? AND chatbot_id = ? AND embedding IS NOT NULL`, k.t.orgID, k.chatbotID)
		if err != nil {
			return fmt.Errorf("store: unable to read knowledge vectors: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v KnowledgeVector
			var emb []byte
			if err := rows.Scan(&v.ChunkID, &emb); err != nil {
				return fmt.Errorf("store: unable to read knowledge vectors: %w", err)
			}
			v.Vector = DecodeVector(emb)
			list = append(list, v)
		}
		return rows.Err()
	})
	return gen, list, err
}

// textRankBudget bounds the chunks one PostgreSQL search ranks. ts_rank has
// no index support: every ranked chunk is read from the heap, so a query word
// found in tens of thousands of chunks would cost tens of milliseconds.
const textRankBudget = 2000

// SearchText runs a full-text search over the namespace and returns up to
// limit chunks, best first. Terms are words; anything but letters and digits
// is dropped from each, so no term can change the query's syntax. A chunk
// matches when it contains any term (stemmed). SQLite ranks by BM25 (FTS5,
// title weighted 2:1). PostgreSQL ranks by the sum over the query's lexemes
// of ts_rank (title weight A, text B) times the lexeme's inverse document
// frequency in the namespace, and ranks only the chunks of the rarer lexemes
// when the others are common (see searchTextPostgres).
func (k *KnowledgeBase) SearchText(ctx context.Context, terms []string, limit int) ([]KnowledgeHit, error) {
	clean := cleanTerms(terms)
	if len(clean) == 0 || limit <= 0 {
		return nil, nil
	}
	limit = min(limit, 200)
	var hits []KnowledgeHit
	err := k.read(ctx, func(tx *Tx) error {
		var err error
		if k.t.db.dialect == Postgres {
			hits, err = k.searchTextPostgres(ctx, tx, clean, limit)
		} else {
			hits, err = k.searchTextSQLite(ctx, tx, clean, limit)
		}
		return err
	})
	return hits, err
}

func (k *KnowledgeBase) searchTextSQLite(ctx context.Context, tx *Tx, terms []string, limit int) ([]KnowledgeHit, error) {
	match := "ns:" + k.ftsNamespace() + " AND (\"" + strings.Join(terms, "\" OR \"") + "\")"
	// Rank inside the index first and join only the top rows: the
	// namespace token already confines the match, and the join
	// repeats the namespace filter on the chunk rows themselves.
	rows, err := tx.query(ctx, `SELECT c.id, c.source_id, c.ord, c.title, c.url, c.text, -f.rank AS score
		FROM (SELECT rowid, bm25(knowledge_fts, 0.0, 2.0, 1.0) AS rank FROM knowledge_fts
			WHERE knowledge_fts MATCH ? ORDER BY rank LIMIT ?) f
		JOIN knowledge_chunks c ON c.seq = f.rowid
		WHERE c.org_id = ? AND c.chatbot_id = ?
		ORDER BY score DESC, c.id`, match, limit, k.t.orgID, k.chatbotID)
	if err != nil {
		return nil, fmt.Errorf("store: unable to search knowledge: %w", err)
	}
	return scanKnowledgeHits(rows, nil, nil)
}

// queryLexeme is one lexeme of a PostgreSQL query with the number of the
// namespace's chunks that contain it and its inverse document frequency.
type queryLexeme struct {
	lexeme string
	chunks int64
	idf    float64
}

// queryLexemes stems the terms as the chunks' tsvector was built and returns
// the lexemes that some chunk of the namespace contains, rarest first, and
// the namespace's number of chunks. Each count is one primary-key lookup
// (a subquery per lexeme, whatever the planner's statistics say).
func (k *KnowledgeBase) queryLexemes(ctx context.Context, tx *Tx, terms []string) ([]queryLexeme, int64, error) {
	rows, err := tx.query(ctx, `SELECT u.lexeme,
			COALESCE((SELECT chunks FROM knowledge_lexemes l WHERE l.org_id = ? AND l.chatbot_id = ? AND l.lexeme = u.lexeme), 0),
			COALESCE((SELECT chunk_count FROM knowledge_namespaces WHERE org_id = ? AND chatbot_id = ?), 0)
		FROM unnest(to_tsvector('english', ?::text)) u`,
		k.t.orgID, k.chatbotID, k.t.orgID, k.chatbotID, strings.Join(terms, " "))
	if err != nil {
		return nil, 0, fmt.Errorf("store: unable to read knowledge lexemes: %w", err)
	}
	defer rows.Close()
	var list []queryLexeme
	var total int64
	for rows.Next() {
		var l queryLexeme
		if err := rows.Scan(&l.lexeme, &l.chunks, &total); err != nil {
			return nil, 0, fmt.Errorf("store: unable to read knowledge lexemes: %w", err)
		}
		if l.chunks > 0 {
			list = append(list, l)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: unable to read knowledge lexemes: %w", err)
	}
	for i := range list {
		// BM25's inverse document frequency: a lexeme in every chunk
		// weighs almost nothing, one in a single chunk of many the most.
		n, df := float64(max(total, list[i].chunks)), float64(list[i].chunks)
		list[i].idf = math.Log(1 + (n-df+0.5)/(df+0.5))
	}
	slices.SortFunc(list, func(a, b queryLexeme) int {
		return cmp.Or(cmp.Compare(a.chunks, b.chunks), strings.Compare(a.lexeme, b.lexeme))
	})
	return list, total, nil
}

// textSearchPass is one ranking query of a PostgreSQL search: up to cap of
// the chunks matching the tsquery match are scored.
type textSearchPass struct {
	match string
	cap   int
}

// planTextSearch decides which chunks a PostgreSQL search ranks, given the
// query's lexemes rarest first. The rarest lexemes whose chunks add up to at
// most budget are rare: all their chunks are ranked (the counts are exact,
// so the cap never cuts). The other lexemes are common: they add to the
// scores, and their chunks are ranked only when the rare ones leave the
// result short, at most budget at a time: first those with every common
// lexeme, then those with any.
func planTextSearch(lexemes []queryLexeme, budget int) []textSearchPass {
	var rare, common []string
	var sum int64
	for _, l := range lexemes {
		if len(common) == 0 && sum+l.chunks <= int64(budget) {
			rare = append(rare, tsqueryLexeme(l.lexeme))
			sum += l.chunks
		} else {
			common = append(common, tsqueryLexeme(l.lexeme))
		}
	}
	var passes []textSearchPass
	if len(rare) > 0 {
		passes = append(passes, textSearchPass{strings.Join(rare, " | "), budget})
	}
	if len(common) > 1 {
		passes = append(passes, textSearchPass{strings.Join(common, " & "), budget})
	}
	if len(common) > 0 {
		passes = append(passes, textSearchPass{strings.Join(common, " | "), budget})
	}
	return passes
}

// tsqueryLexeme quotes a lexeme for tsquery input, so that it is read as
// one lexeme whatever it contains.
func tsqueryLexeme(lexeme string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(lexeme, `\`, `\\`), "'", "''") + "'"
}

// searchTextPostgres scores a chunk by the sum over the query's lexemes of
// idf(lexeme) * ts_rank(chunk, lexeme): ts_rank grows with the lexeme's
// occurrences, saturating, and counts a title occurrence (weight A) 2.5
// times one in the text (B); idf makes a rare lexeme outweigh common ones.
//
// Which chunks are scored: in a namespace of at most textRankBudget chunks,
// every match, found by reading the namespace's rows. In a larger one, those
// of planTextSearch's passes, found through the GIN index by
// knowledge_chunks_matching (migration 00080): row-level security keeps a
// query of porthole_app from using that index, so without the function a
// search would read the whole namespace. Either way the chunks themselves
// are read here, as porthole_app, under row-level security.
func (k *KnowledgeBase) searchTextPostgres(ctx context.Context, tx *Tx, terms []string, limit int) ([]KnowledgeHit, error) {
	lexemes, total, err := k.queryLexemes(ctx, tx, terms)
	if err != nil || len(lexemes) == 0 {
		return nil, err
	}
	var score strings.Builder
	var scoreArgs []any
	for i, l := range lexemes {
		if i > 0 {
			score.WriteString(" + ")
		}
		score.WriteString("?::float8 * ts_rank(c.tsv, ?::text::tsquery)")
		scoreArgs = append(scoreArgs, l.idf, tsqueryLexeme(l.lexeme))
	}
	if total <= textRankBudget {
		var all []string
		for _, l := range lexemes {
			all = append(all, tsqueryLexeme(l.lexeme))
		}
		rows, err := tx.query(ctx, `SELECT c.id, c.source_id, c.ord, c.title, c.url, c.text, `+score.String()+` AS score
			FROM knowledge_chunks c
			WHERE c.org_id = ? AND c.chatbot_id = ? AND c.tsv @@ ?::text::tsquery
			ORDER BY score DESC, c.id LIMIT ?`,
			append(scoreArgs, k.t.orgID, k.chatbotID, strings.Join(all, " | "), limit)...)
		if err != nil {
			return nil, fmt.Errorf("store: unable to search knowledge: %w", err)
		}
		return scanKnowledgeHits(rows, nil, nil)
	}
	var hits []KnowledgeHit
	seen := map[string]bool{}
	for _, pass := range planTextSearch(lexemes, textRankBudget) {
		if len(hits) >= limit {
			break
		}
		// Each id is looked up on its own (a fenced lateral subquery), so
		// that no estimate of the namespace's size can turn the lookups into
		// a read of the whole namespace.
		args := append(slices.Clone(scoreArgs), k.chatbotID, pass.match, pass.cap, k.t.orgID, k.chatbotID, limit)
		rows, err := tx.query(ctx, `SELECT c.id, c.source_id, c.ord, c.title, c.url, c.text, `+score.String()+` AS score
			FROM knowledge_chunks_matching(?, ?::text::tsquery, ?) m(id),
				LATERAL (SELECT id, source_id, ord, title, url, text, tsv FROM knowledge_chunks
					WHERE id = m.id AND org_id = ? AND chatbot_id = ? OFFSET 0) c
			ORDER BY score DESC, c.id LIMIT ?`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: unable to search knowledge: %w", err)
		}
		if hits, err = scanKnowledgeHits(rows, hits, seen); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(hits, func(a, b KnowledgeHit) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(a.ID, b.ID))
	})
	return hits[:min(limit, len(hits))], nil
}

// scanKnowledgeHits appends the hits of rows that seen (when not nil) does
// not hold yet, and closes rows.
func scanKnowledgeHits(rows *sql.Rows, hits []KnowledgeHit, seen map[string]bool) ([]KnowledgeHit, error) {
	defer rows.Close()
	for rows.Next() {
		var h KnowledgeHit
		if err := rows.Scan(&h.ID, &h.SourceID, &h.Ord, &h.Title, &h.URL, &h.Text, &h.Score); err != nil {
			return nil, fmt.Errorf("store: unable to search knowledge: %w", err)
		}
		if seen != nil {
			if seen[h.ID] {
				continue
			}
			seen[h.ID] = true
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: unable to search knowledge: %w", err)
	}
	return hits, nil
}

// ftsNamespace is the token the SQLite trigger writes into knowledge_fts.ns.
func (k *KnowledgeBase) ftsNamespace() string {
	return "ns" + strings.ReplaceAll(k.t.orgID, "-", "") + strings.ReplaceAll(k.chatbotID, "-", "")
}

func cleanTerms(terms []string) []string {
	seen := make(map[string]bool, len(terms))
	var out []string
	for _, term := range terms {
		term = strings.ToLower(strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return r
			}
			return -1
		}, term))
		if term == "" || len(term) > 64 || seen[term] {
			continue
		}
		seen[term] = true
		out = append(out, term)
		if len(out) == MaxKnowledgeSearchTerms {
			break
		}
	}
	return out
}

// EncodeVector returns the stored form of a vector: little-endian float32s.
func EncodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// DecodeVector is the inverse of EncodeVector; nil for nil.
func DecodeVector(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
