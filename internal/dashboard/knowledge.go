package dashboard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/porthole-chat/porthole/internal/assistant"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// knowledgePage is the Data of a chatbot's knowledge page.
type knowledgePage struct {
	Chatbot  porthole.Chatbot
	CanWrite bool
	Sources  []store.KnowledgeSource
	// Busy is true while a source is pending or running: the page's
	// script then refreshes progress from the JSON API.
	Busy        bool
	MaxPages    int
	MaxPagesCap int
	MaxUploadMB int64
	URL         string // the add-URL form's value after an error
	Sitemap     string
}

// knowledgeNS checks the member's access to a chatbot's knowledge base.
func (d *Dashboard) knowledgeNS(r *http.Request, p auth.Principal, need auth.Access) (porthole.Chatbot, auth.Access, knowledge.Namespace, error) {
	if d.knowledge == nil {
		return porthole.Chatbot{}, auth.NoAccess, knowledge.Namespace{}, porthole.Errorf(porthole.EUNAVAILABLE, "the knowledge base is not available")
	}
	c, access, err := d.chatbotForArea(r.Context(), p, r.PathValue("id"), "knowledge", need)
	return c, access, knowledge.Namespace{OrgID: p.Org, ChatbotID: c.ID}, err
}

func (d *Dashboard) knowledgePage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showKnowledge(w, r, p, http.StatusOK, doneNotice(r), knowledgePage{})
}

func (d *Dashboard) showKnowledge(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice, page knowledgePage) error {
	c, access, ns, err := d.knowledgeNS(r, p, auth.ReadAccess)
	if err != nil {
		return err
	}
	if page.Sources, err = d.knowledge.Sources(r.Context(), ns); err != nil {
		return err
	}
	page.Chatbot, page.CanWrite = c, access >= auth.WriteAccess
	page.MaxPages, page.MaxPagesCap, page.MaxUploadMB = knowledge.DefaultMaxPages, knowledge.MaxPagesLimit, d.maxUploadBytes>>20
	for _, s := range page.Sources {
		if s.Status == store.KnowledgePending || s.Status == store.KnowledgeRunning {
			page.Busy = true
		}
	}
	v := d.frame(r, p, "chatbots", "Knowledge · "+c.Name)
	v.Notice, v.Data = n, page
	d.renderStatus(w, r, status, "knowledge", v)
	return nil
}

// knowledgeFormError shows a refused knowledge form on the page, with what
// was typed.
func (d *Dashboard) knowledgeFormError(w http.ResponseWriter, r *http.Request, p auth.Principal, err error, page knowledgePage) error {
	if !formError(err) {
		return err
	}
	return d.showKnowledge(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, page)
}

func (d *Dashboard) addKnowledgeURL(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, _, ns, err := d.knowledgeNS(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	u := strings.TrimSpace(r.PostFormValue("url"))
	if _, err := d.knowledge.AddURL(r.Context(), ns, u); err != nil {
		return d.knowledgeFormError(w, r, p, err, knowledgePage{URL: truncate(u, 2048)})
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID+"/knowledge", "source-added")
	return nil
}

func (d *Dashboard) addKnowledgeSitemap(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, _, ns, err := d.knowledgeNS(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	u := strings.TrimSpace(r.PostFormValue("sitemap"))
	maxPages := 0
	if v := strings.TrimSpace(r.PostFormValue("max_pages")); v != "" {
		if maxPages, err = strconv.Atoi(v); err != nil || maxPages < 1 {
			return d.knowledgeFormError(w, r, p, porthole.Errorf(porthole.EINVALID, "the page cap must be a whole number from 1 to %d", knowledge.MaxPagesLimit),
				knowledgePage{Sitemap: truncate(u, 2048)})
		}
	}
	if _, err := d.knowledge.AddSitemap(r.Context(), ns, u, maxPages); err != nil {
		return d.knowledgeFormError(w, r, p, err, knowledgePage{Sitemap: truncate(u, 2048)})
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID+"/knowledge", "source-added")
	return nil
}

// uploadKnowledge takes the upload form (multipart). The app exempts this
// route from the global body cap; this is its own. The knowledge service
// sniffs the bytes: a file that is not what its name says is refused and
// recorded as a rejected_upload security event.
func (d *Dashboard) uploadKnowledge(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, _, ns, err := d.knowledgeNS(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	limit := d.maxUploadBytes
	tooLarge := porthole.Errorf(porthole.ETOOLARGE, "the file is larger than %d MB", limit>>20)
	if r.ContentLength > limit+64<<10 {
		return d.knowledgeFormError(w, r, p, tooLarge, knowledgePage{})
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10)
	file, header, err := r.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return d.knowledgeFormError(w, r, p, tooLarge, knowledgePage{})
		}
		return d.knowledgeFormError(w, r, p, porthole.Errorf(porthole.EINVALID, "choose a file to upload"), knowledgePage{})
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return err
	}
	name := knowledge.UploadName(header.Filename)
	kind := r.PostFormValue("kind")
	if kind == "" {
		kind = knowledge.UploadKind(name)
	}
	if kind == "" {
		return d.knowledgeFormError(w, r, p, porthole.Errorf(porthole.EINVALID, "name the file .txt, .md, .html or .pdf, or choose its kind"), knowledgePage{})
	}
	if _, err := d.knowledge.AddUpload(r.Context(), ns, knowledge.Upload{Kind: kind, Name: name, Data: data}); err != nil {
		return d.knowledgeFormError(w, r, p, err, knowledgePage{})
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID+"/knowledge", "source-added")
	return nil
}

func (d *Dashboard) reimportKnowledge(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, _, ns, err := d.knowledgeNS(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	if err := d.knowledge.Reimport(r.Context(), ns, r.PathValue("source_id")); err != nil {
		return err
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID+"/knowledge", "source-reimport")
	return nil
}

func (d *Dashboard) deleteKnowledge(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, _, ns, err := d.knowledgeNS(r, p, auth.WriteAccess)
	if err != nil {
		return err
	}
	if err := d.knowledge.Delete(r.Context(), ns, r.PathValue("source_id")); err != nil {
		return err
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID+"/knowledge", "source-deleted")
	return nil
}

// uploadName makes an uploaded file's name safe to store and show: the
// last path element, no control or format characters (no bidi tricks), at
// previewPassage is one retrieved passage with the name of its source.
type previewPassage struct {
	knowledge.Passage
	SourceName string
}

// Previewer answers what the assistant would reply, storing nothing;
// *assistant.Engine is one.
type Previewer interface {
	Preview(ctx context.Context, orgID, chatbotID, message string, emit func(text string)) (assistant.PreviewResult, error)
}

// previewPage is the Data of the preview page.
type previewPage struct {
	Chatbot  porthole.Chatbot
	Provider string
	Model    string
	Question string
	Asked    bool
	Passages []previewPassage
	// CanReply: a reply preview is available. Reply is set when one ran.
	CanReply bool
	Reply    *assistant.PreviewResult
}

// previewK is how many passages the preview shows.
const previewK = 5

// previewPageGet shows the preview form.
func (d *Dashboard) previewPageGet(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showPreview(w, r, p, "")
}

// previewAsk shows what the assistant would retrieve for a question: the
// top passages of the chatbot's knowledge base with their sources; with
// run=reply also the reply the assistant would give (Engine.Preview: the
// model is called, nothing is stored or charged, tools that change data
// are reported, not run).
func (d *Dashboard) previewAsk(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showPreview(w, r, p, r.PostFormValue("message"))
}

func (d *Dashboard) showPreview(w http.ResponseWriter, r *http.Request, p auth.Principal, question string) error {
	wantReply := r.Method == http.MethodPost && r.PostFormValue("run") == "reply"
	ctx := r.Context()
	c, _, ns, err := d.knowledgeNS(r, p, auth.ReadAccess)
	if err != nil {
		return err
	}
	cfg, err := d.db.Tenant(p.Org).AssistantConfig(ctx, c.ID)
	if err != nil {
		return err
	}
	page := previewPage{Chatbot: c, Provider: cfg.Provider, Model: cfg.Model, Question: truncate(question, 2000), CanReply: d.preview != nil}
	status, n := http.StatusOK, notice{}
	if q := strings.TrimSpace(question); q != "" {
		page.Asked = true
		if wantReply && d.preview != nil {
			res, err := d.preview.Preview(ctx, p.Org, c.ID, q, nil)
			switch {
			case porthole.ErrorCode(err) == porthole.EINVALID:
				status, n = http.StatusBadRequest, notice{Error: porthole.ErrorMessage(err)}
			case err != nil:
				return err
			default:
				page.Reply = &res
			}
		}
		passages, err := d.knowledge.Search(ctx, ns, truncate(q, 1000), previewK)
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, ps := range passages {
			name, ok := names[ps.SourceID]
			if !ok {
				if src, err := d.knowledge.Source(ctx, ns, ps.SourceID); err == nil {
					name = src.Name
				}
				names[ps.SourceID] = name
			}
			page.Passages = append(page.Passages, previewPassage{Passage: ps, SourceName: name})
		}
	} else if r.Method == http.MethodPost {
		status, n = http.StatusBadRequest, notice{Error: "Type a question to preview."}
	}
	v := d.frame(r, p, "chatbots", "Preview · "+c.Name)
	v.Notice, v.Data = n, page
	d.renderStatus(w, r, status, "preview", v)
	return nil
}
