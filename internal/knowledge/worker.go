package knowledge

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Worker defaults.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultLease        = 2 * time.Minute
	maxJobAttempts      = 3
	embedBatch          = 64
	maxSitemaps         = 10
	// robotsAgent is the product token robots.txt groups are matched against.
	robotsAgent = "PortholeBot"
)

// Worker ingests queued sources in the background: it claims one job at a
// time from any tenant, extracts, chunks and embeds it within the job's own
// namespace, and replaces the source's chunks in one transaction.
type Worker struct {
	svc   *Service
	poll  time.Duration
	lease time.Duration
}

// NewWorker returns a worker for svc. poll and lease default to
// DefaultPollInterval and DefaultLease when zero.
func NewWorker(svc *Service, poll, lease time.Duration) *Worker {
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	return &Worker{svc: svc, poll: poll, lease: lease}
}

// Run works until ctx is done and then returns nil. A job that fails is
// marked failed with a message for the dashboard; a store error while
// claiming is logged and retried after the poll interval, so Run never
// returns early. A job interrupted by shutdown is taken up again after its
// lease runs out (at most three attempts).
//
// When it runs out of jobs after some, it compacts the full-text index
// (store.DB.CompactTextIndex), so searches seek one segment, not one per
// ingested source.
func (w *Worker) Run(ctx context.Context) error {
	ingested := false
	for {
		worked, err := w.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.svc.cfg.Logger.Error("knowledge: claiming a job failed", "err", err)
		}
		if worked {
			ingested = true
			continue
		}
		if ingested {
			ingested = false
			w.compact(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.svc.wake:
		case <-time.After(w.poll):
		}
	}
}

// compact merges the full-text index's segments; a failure is logged
// (searches still work, only slower) and tried again after the next jobs.
func (w *Worker) compact(ctx context.Context) {
	steps, err := w.svc.cfg.DB.CompactTextIndex(ctx)
	if err != nil && ctx.Err() == nil {
		w.svc.cfg.Logger.Warn("knowledge: compacting the full-text index failed", "err", err)
		return
	}
	if steps > 0 {
		w.svc.cfg.Logger.Debug("knowledge: full-text index compacted", "steps", steps)
	}
}

// RunOnce claims and runs one job. It reports whether there was one.
func (w *Worker) RunOnce(ctx context.Context) (bool, error) {
	job, err := w.svc.cfg.DB.ClaimKnowledgeJob(ctx, time.Now().Add(w.lease), maxJobAttempts)
	if porthole.ErrorCode(err) == porthole.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ns := Namespace{OrgID: job.OrgID, ChatbotID: job.ChatbotID}
	kb := w.svc.kb(ns)
	log := w.svc.cfg.Logger.With("org_id", job.OrgID, "chatbot_id", job.ChatbotID, "source_id", job.SourceID)
	if err := w.ingest(ctx, ns, kb, job); err != nil {
		if ctx.Err() != nil {
			return true, nil // shutdown: the lease runs out and another worker resumes
		}
		if porthole.ErrorCode(err) == porthole.ECONFLICT {
			log.Info("knowledge: job superseded", "err", err)
			return true, nil
		}
		log.Warn("knowledge: ingestion failed", "err", err)
		if ferr := kb.FailJob(ctx, job, porthole.ErrorMessage(err)); ferr != nil && porthole.ErrorCode(ferr) != porthole.ECONFLICT {
			log.Error("knowledge: recording a failed job", "err", ferr)
		}
		return true, nil
	}
	log.Info("knowledge: source ingested")
	return true, nil
}

func (w *Worker) ingest(ctx context.Context, ns Namespace, kb *store.KnowledgeBase, job store.KnowledgeJob) error {
	src, err := kb.Source(ctx, job.SourceID)
	if err != nil {
		return err
	}
	var docs []Document
	switch src.Kind {
	case store.KnowledgeText, store.KnowledgeMarkdown, store.KnowledgeHTML, store.KnowledgePDF:
		data, err := kb.SourceContent(ctx, src.ID)
		if err != nil {
			return err
		}
		doc, err := extract(src.Kind, src.Name, "", data)
		if err != nil {
			return err
		}
		docs = append(docs, doc)
	case store.KnowledgeURL:
		if err := kb.JobProgress(ctx, job, 0, 1, time.Now().Add(w.lease)); err != nil {
			return err
		}
		doc, err := w.fetchPage(ctx, ns, src.URL)
		if err != nil {
			return err
		}
		docs = append(docs, doc)
	case store.KnowledgeSitemap:
		docs, err = w.crawl(ctx, ns, kb, job, src)
		if err != nil {
			return err
		}
	default:
		return porthole.Errorf(porthole.EINVALID, "unknown source kind %q", src.Kind)
	}
	var chunks []store.KnowledgeChunk
	for _, d := range docs {
		for _, c := range chunkDocument(d, w.svc.cfg.ChunkWords, w.svc.cfg.OverlapWords) {
			chunks = append(chunks, store.KnowledgeChunk{Title: c.Title, URL: c.URL, Text: c.Text})
		}
	}
	if len(chunks) == 0 {
		return porthole.Errorf(porthole.EINVALID, "no text was found in the source")
	}
	if len(chunks) > MaxChunksPerSource {
		return porthole.Errorf(porthole.ETOOLARGE, "the source yields more than %d passages", MaxChunksPerSource)
	}
	if e := w.svc.cfg.Embedder; e != nil {
		for start := 0; start < len(chunks); start += embedBatch {
			end := min(start+embedBatch, len(chunks))
			texts := make([]string, 0, end-start)
			for _, c := range chunks[start:end] {
				texts = append(texts, c.Title+"\n"+c.Text)
			}
			vecs, err := e.Embed(ctx, texts)
			if err != nil || len(vecs) != len(texts) {
				return porthole.WrapError(porthole.EUNAVAILABLE, err, "the embeddings provider failed")
			}
			for i, v := range vecs {
				chunks[start+i].Embedding = v
			}
			if err := kb.ExtendJobLease(ctx, job, time.Now().Add(w.lease)); err != nil {
				return err
			}
		}
	}
	return kb.ReplaceChunks(ctx, job, len(docs), chunks)
}

// fetchPage fetches one page and extracts its text, trusting the sniffed
// content, not the declared type.
func (w *Worker) fetchPage(ctx context.Context, ns Namespace, pageURL string) (Document, error) {
	resp, err := w.svc.cfg.Fetcher.Get(ctx, ns.OrgID, pageURL)
	if err != nil {
		return Document{}, err
	}
	if resp.StatusCode != 200 {
		return Document{}, porthole.Errorf(porthole.EUNAVAILABLE, "%s answered with status %d", pageURL, resp.StatusCode)
	}
	kind, err := sniffKind(resp.Body)
	if err != nil {
		return Document{}, err
	}
	if declared := resp.ContentType(); declared == "application/pdf" && kind != store.KnowledgePDF {
		return Document{}, errUnsupported("%s claims to be a PDF but is not one", pageURL)
	}
	return extract(kind, resp.URL.String(), resp.URL.String(), resp.Body)
}

// crawl fetches the pages a sitemap lists: same host as the sitemap only,
// robots.txt respected, at most src.MaxPages.
func (w *Worker) crawl(ctx context.Context, ns Namespace, kb *store.KnowledgeBase, job store.KnowledgeJob, src store.KnowledgeSource) ([]Document, error) {
	base, err := url.Parse(src.URL)
	if err != nil {
		return nil, porthole.Errorf(porthole.EINVALID, "the sitemap URL is not valid")
	}
	robots := w.robots(ctx, ns, base)
	if !robots.Allowed(base.RequestURI()) {
		return nil, porthole.Errorf(porthole.EFORBIDDEN, "robots.txt of %s disallows the sitemap", base.Host)
	}
	pages, err := w.sitemapPages(ctx, ns, base, robots, src.MaxPages)
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		return nil, porthole.Errorf(porthole.EINVALID, "the sitemap lists no page that may be crawled")
	}
	if err := kb.JobProgress(ctx, job, 0, len(pages), time.Now().Add(w.lease)); err != nil {
		return nil, err
	}
	var docs []Document
	var lastErr error
	for i, p := range pages {
		doc, err := w.fetchPage(ctx, ns, p)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = err
			w.svc.cfg.Logger.Info("knowledge: page skipped", "url", p, "err", err)
		} else {
			docs = append(docs, doc)
		}
		if err := kb.JobProgress(ctx, job, i+1, len(pages), time.Now().Add(w.lease)); err != nil {
			return nil, err
		}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no page of the sitemap could be read: %w", lastErr)
	}
	return docs, nil
}

// robots fetches the host's robots.txt; a missing file allows everything,
// and so does one that cannot be read for another reason than a refusal
// (the refusal of the sitemap itself follows).
func (w *Worker) robots(ctx context.Context, ns Namespace, base *url.URL) *fetch.Robots {
	ru := url.URL{Scheme: base.Scheme, Host: base.Host, Path: "/robots.txt"}
	resp, err := w.svc.cfg.Fetcher.Get(ctx, ns.OrgID, ru.String())
	if err != nil || resp.StatusCode != 200 {
		if err == nil && (resp.StatusCode == 401 || resp.StatusCode == 403) {
			return fetch.ParseRobots([]byte("User-agent: *\nDisallow: /\n"), robotsAgent)
		}
		return fetch.ParseRobots(nil, robotsAgent)
	}
	return fetch.ParseRobots(resp.Body, robotsAgent)
}

type sitemapXML struct {
	XMLName xml.Name
	URLs    []struct {
		Loc string `xml:"loc"`
	} `xml:"url"`
	Sitemaps []struct {
		Loc string `xml:"loc"`
	} `xml:"sitemap"`
}

// sitemapPages reads a sitemap (or a sitemap index, one level deep) and
// returns up to limit crawlable page URLs in the order listed.
func (w *Worker) sitemapPages(ctx context.Context, ns Namespace, base *url.URL, robots *fetch.Robots, limit int) ([]string, error) {
	queue := []string{base.String()}
	seen := map[string]bool{}
	var pages []string
	for n := 0; len(queue) > 0 && n < maxSitemaps && len(pages) < limit; n++ {
		sm, err := w.fetchSitemap(ctx, ns, queue[0])
		queue = queue[1:]
		if err != nil {
			if n == 0 {
				return nil, err
			}
			continue
		}
		for _, s := range sm.Sitemaps {
			if u, ok := sameHost(base, s.Loc); ok && robots.Allowed(u.RequestURI()) {
				queue = append(queue, u.String())
			}
		}
		for _, p := range sm.URLs {
			u, ok := sameHost(base, p.Loc)
			if !ok || seen[u.String()] || !robots.Allowed(u.RequestURI()) {
				continue
			}
			seen[u.String()] = true
			pages = append(pages, u.String())
			if len(pages) == limit {
				break
			}
		}
	}
	return pages, nil
}

func (w *Worker) fetchSitemap(ctx context.Context, ns Namespace, u string) (sitemapXML, error) {
	var sm sitemapXML
	resp, err := w.svc.cfg.Fetcher.Get(ctx, ns.OrgID, u)
	if err != nil {
		return sm, err
	}
	if resp.StatusCode != 200 {
		return sm, porthole.Errorf(porthole.EUNAVAILABLE, "the sitemap %s answered with status %d", u, resp.StatusCode)
	}
	body := resp.Body
	if bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return sm, errUnsupported("the sitemap %s is not valid gzip", u)
		}
		body, err = io.ReadAll(io.LimitReader(zr, 50<<20+1))
		if err != nil || len(body) > 50<<20 {
			return sm, errUnsupported("the sitemap %s is not valid or too large", u)
		}
	}
	if err := xml.Unmarshal(body, &sm); err != nil {
		return sm, errUnsupported("the sitemap %s is not valid XML", u)
	}
	if sm.XMLName.Local != "urlset" && sm.XMLName.Local != "sitemapindex" {
		return sm, errUnsupported("%s is not a sitemap", u)
	}
	return sm, nil
}

// sameHost resolves loc against base and keeps it only on base's host.
func sameHost(base *url.URL, loc string) (*url.URL, bool) {
	u, err := base.Parse(loc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host != base.Host {
		return nil, false
	}
	u.Fragment = ""
	return u, true
}
