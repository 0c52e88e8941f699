package knowledge

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Limits of ingestion (defaults of Config).
const (
	DefaultMaxUploadBytes = 10 << 20
	DefaultMaxPages       = 50
	// MaxPagesLimit is the most pages one sitemap source may crawl.
	MaxPagesLimit = 1000
	// MaxChunksPerSource stops one huge document from flooding a namespace.
	MaxChunksPerSource = 20000
)

// Namespace names one chatbot's knowledge base.
type Namespace struct {
	OrgID     string
	ChatbotID string
}

// Config is what a Service needs. DB and Fetcher are required.
type Config struct {
	DB      *store.DB
	Fetcher *fetch.Client
	// Embedder, when set, adds vector search fused with full text; nil
	// means full text only.
	Embedder Embedder
	// Security receives rejected uploads; nil drops them.
	Security porthole.SecurityRecorder
	Logger   *slog.Logger

	MaxUploadBytes int64
	MaxPages       int
	ChunkWords     int
	OverlapWords   int
}

// Service manages knowledge bases: sources, ingestion and search.
type Service struct {
	cfg  Config
	wake chan struct{}

	mu      sync.Mutex
	vectors map[Namespace]*vectorCache
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = DefaultMaxPages
	}
	cfg.MaxPages = min(cfg.MaxPages, MaxPagesLimit)
	if cfg.ChunkWords <= 0 {
		cfg.ChunkWords = DefaultChunkWords
	}
	if cfg.OverlapWords <= 0 {
		cfg.OverlapWords = DefaultOverlapWords
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, wake: make(chan struct{}, 1), vectors: map[Namespace]*vectorCache{}}
}

func (s *Service) kb(ns Namespace) *store.KnowledgeBase {
	return s.cfg.DB.Tenant(ns.OrgID).Knowledge(ns.ChatbotID)
}

// notify wakes an idle worker of this process; workers of other processes
// find the job on their next poll.
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Upload is a document a member uploads.
type Upload struct {
	// Kind is what the member says it is: text, markdown, html or pdf.
	Kind string
	Name string
	Data []byte
}

// AddUpload checks an upload (size, and that its bytes really are of the
// declared kind) and queues it for ingestion. A refused upload is recorded
// as a security event.
func (s *Service) AddUpload(ctx context.Context, ns Namespace, up Upload) (store.KnowledgeSource, error) {
	switch up.Kind {
	case store.KnowledgeText, store.KnowledgeMarkdown, store.KnowledgeHTML, store.KnowledgePDF:
	default:
		return store.KnowledgeSource{}, porthole.Errorf(porthole.EINVALID, "upload kind must be text, markdown, html or pdf")
	}
	if int64(len(up.Data)) > s.cfg.MaxUploadBytes {
		return store.KnowledgeSource{}, porthole.Errorf(porthole.ETOOLARGE, "the file is larger than %d MB", s.cfg.MaxUploadBytes>>20)
	}
	if len(up.Data) == 0 {
		return store.KnowledgeSource{}, porthole.Errorf(porthole.EINVALID, "the file is empty")
	}
	if err := checkDeclared(up.Kind, up.Data); err != nil {
		s.recordRejected(ctx, ns, up.Name, err)
		return store.KnowledgeSource{}, err
	}
	src, err := s.kb(ns).CreateSource(ctx, store.NewKnowledgeSource{Kind: up.Kind, Name: up.Name, Content: up.Data})
	if err == nil {
		s.notify()
	}
	return src, err
}

func (s *Service) recordRejected(ctx context.Context, ns Namespace, name string, err error) {
	if s.cfg.Security == nil {
		return
	}
	s.cfg.Security.RecordSecurityEvent(ctx, porthole.SecurityEvent{
		OrgID:  ns.OrgID,
		Kind:   porthole.SecRejectedUpload,
		Detail: "knowledge upload refused: " + porthole.ErrorMessage(err),
		Data:   map[string]any{"chatbot_id": ns.ChatbotID, "name": name},
	})
}

// checkSourceURL validates a URL given for import; the fetch client checks
// it again, and the address, when it is fetched.
func checkSourceURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, porthole.Errorf(porthole.EINVALID, "the URL must be an http or https URL")
	}
	if len(raw) > 2048 {
		return nil, porthole.Errorf(porthole.EINVALID, "the URL is too long")
	}
	u.Fragment = ""
	return u, nil
}

// AddURL queues the import of one web page (HTML, text or PDF).
func (s *Service) AddURL(ctx context.Context, ns Namespace, rawURL string) (store.KnowledgeSource, error) {
	u, err := checkSourceURL(rawURL)
	if err != nil {
		return store.KnowledgeSource{}, err
	}
	src, err := s.kb(ns).CreateSource(ctx, store.NewKnowledgeSource{Kind: store.KnowledgeURL, Name: u.String(), URL: u.String()})
	if err == nil {
		s.notify()
	}
	return src, err
}

// AddSitemap queues a crawl of the pages a sitemap lists, on the sitemap's
// own host, at most maxPages of them (0 means the configured default), in
// the order listed and skipping what robots.txt disallows.
func (s *Service) AddSitemap(ctx context.Context, ns Namespace, sitemapURL string, maxPages int) (store.KnowledgeSource, error) {
	u, err := checkSourceURL(sitemapURL)
	if err != nil {
		return store.KnowledgeSource{}, err
	}
	if maxPages <= 0 {
		maxPages = s.cfg.MaxPages
	}
	if maxPages > MaxPagesLimit {
		return store.KnowledgeSource{}, porthole.Errorf(porthole.EINVALID, "a crawl may fetch at most %d pages", MaxPagesLimit)
	}
	src, err := s.kb(ns).CreateSource(ctx, store.NewKnowledgeSource{Kind: store.KnowledgeSitemap, Name: u.String(), URL: u.String(), MaxPages: maxPages})
	if err == nil {
		s.notify()
	}
	return src, err
}

// Reimport queues a source for ingestion again; its chunks are replaced in
// one step when the new ingestion finishes.
func (s *Service) Reimport(ctx context.Context, ns Namespace, sourceID string) error {
	err := s.kb(ns).ReimportSource(ctx, sourceID)
	if err == nil {
		s.notify()
	}
	return err
}

// Delete removes a source; its chunks leave search results at once.
func (s *Service) Delete(ctx context.Context, ns Namespace, sourceID string) error {
	return s.kb(ns).DeleteSource(ctx, sourceID)
}

// Sources lists a namespace's sources with their ingestion progress.
func (s *Service) Sources(ctx context.Context, ns Namespace) ([]store.KnowledgeSource, error) {
	return s.kb(ns).Sources(ctx)
}

// Source returns one source with its ingestion progress.
func (s *Service) Source(ctx context.Context, ns Namespace, sourceID string) (store.KnowledgeSource, error) {
	return s.kb(ns).Source(ctx, sourceID)
}
