package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/knowledge"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Sealer seals a secret for one organization (secrets.Vault): the sealed
// bytes open only with that organization's data key.
type Sealer interface {
	Seal(ctx context.Context, orgID string, plaintext []byte) ([]byte, error)
}

// AssistantDeps are what the assistant and knowledge routes serve from.
type AssistantDeps struct {
	// Knowledge manages the chatbots' knowledge bases.
	Knowledge *knowledge.Service
	// Sealer seals provider keys and tool secrets before they are stored.
	Sealer Sealer
	// MaxUploadBytes caps one uploaded file; the request may be a little
	// larger for the multipart framing (see UploadBodyBytes).
	MaxUploadBytes int64
}

// UploadBodyBytes is the request body cap of an upload of at most
// maxUpload bytes: the file plus room for the multipart framing.
func UploadBodyBytes(maxUpload int64) int64 { return maxUpload + 64<<10 }

// WithAssistant gives the server the knowledge service and the sealer;
// without them the assistant and knowledge routes answer 503.
func (s *Server) WithAssistant(d AssistantDeps) *Server {
	if d.MaxUploadBytes <= 0 {
		d.MaxUploadBytes = knowledge.DefaultMaxUploadBytes
	}
	s.assistant = &d
	return s
}

// checkChatbotArea is checkChatbot for any per-chatbot area: the chatbot
// must exist in the caller's organization, and the caller's access to the
// area, narrowed by its grant on the chatbot, must be at least need. No
// access at all is 404, as for another tenant's chatbot.
func (s *Server) checkChatbotArea(ctx context.Context, p Principal, id, area string, need auth.Access) error {
	if _, err := s.tenant(p).Chatbot(ctx, id); err != nil {
		return err
	}
	svc := s.accountService()
	if svc == nil {
		return nil
	}
	ap := authPrincipal(p)
	grant, err := svc.ChatbotGrant(ctx, ap, id)
	if err != nil {
		return err
	}
	access := ap.ChatbotAccess(area, grant)
	if access < auth.ReadAccess {
		return porthole.Errorf(porthole.ENOTFOUND, "chatbot not found")
	}
	if access < need {
		return porthole.Errorf(porthole.EFORBIDDEN, "no %s write access to this chatbot", area)
	}
	return nil
}

func (s *Server) assistantDeps() (*AssistantDeps, error) {
	if s.assistant == nil {
		return nil, porthole.Errorf(porthole.EUNAVAILABLE, "the assistant is not available")
	}
	return s.assistant, nil
}

// AssistantConfigView is an assistant configuration as the API shows it:
// the stored settings, with whether each secret is set instead of the secret.
type AssistantConfigView struct {
	store.AssistantConfig
	APIKeySet bool               `json:"api_key_set"`
	Tools     AssistantToolsView `json:"tools"`
}

// AssistantToolsView is AssistantTools with each HTTP tool's secret shown
// as set or not set.
type AssistantToolsView struct {
	ContactForm     bool           `json:"contact_form"`
	Handoff         bool           `json:"handoff"`
	KnowledgeSearch bool           `json:"knowledge_search"`
	HTTP            []HTTPToolView `json:"http"`
}

// HTTPToolView is a business HTTP tool without its secret.
type HTTPToolView struct {
	store.AssistantHTTPTool
	SecretSet bool `json:"secret_set"`
}

// NewAssistantConfigView hides the secrets of c.
func NewAssistantConfigView(c store.AssistantConfig) AssistantConfigView {
	v := AssistantConfigView{AssistantConfig: c, APIKeySet: len(c.APIKeySealed) > 0, Tools: AssistantToolsView{
		ContactForm: c.Tools.ContactForm, Handoff: c.Tools.Handoff, KnowledgeSearch: c.Tools.KnowledgeSearch, HTTP: []HTTPToolView{},
	}}
	for _, h := range c.Tools.HTTP {
		v.Tools.HTTP = append(v.Tools.HTTP, HTTPToolView{AssistantHTTPTool: h, SecretSet: len(h.SecretSealed) > 0})
	}
	return v
}

// assistantConfigBody is PUT /assistant: the whole configuration. api_key
// and each tool's secret are write-only: absent (or null) keeps what is
// stored, "" removes it, any other value replaces it. The read-only fields
// of a GET are accepted and ignored, so a read-modify-write round trip works.
type assistantConfigBody struct {
	Provider       string                 `json:"provider"`
	BaseURL        string                 `json:"base_url"`
	APIVersion     string                 `json:"api_version"`
	Model          string                 `json:"model"`
	Temperature    *float64               `json:"temperature"`
	MaxTokens      int                    `json:"max_tokens"`
	SystemPrompt   string                 `json:"system_prompt"`
	APIKey         *string                `json:"api_key"`
	Tools          assistantToolsBody     `json:"tools"`
	Budgets        store.AssistantBudgets `json:"budgets"`
	HistoryTokens  int                    `json:"history_tokens"`
	DefaultCountry string                 `json:"default_country"`

	ReadOnlyOrgID     json.RawMessage `json:"organization_id"`
	ReadOnlyChatbotID json.RawMessage `json:"chatbot_id"`
	ReadOnlyUpdatedAt json.RawMessage `json:"updated_at"`
	ReadOnlyKeySet    json.RawMessage `json:"api_key_set"`
}

type assistantToolsBody struct {
	ContactForm     bool           `json:"contact_form"`
	Handoff         bool           `json:"handoff"`
	KnowledgeSearch bool           `json:"knowledge_search"`
	HTTP            []httpToolBody `json:"http"`
}

type httpToolBody struct {
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Schema           json.RawMessage `json:"schema"`
	URL              string          `json:"url"`
	Method           string          `json:"method"`
	Secret           *string         `json:"secret"`
	TimeoutMS        int             `json:"timeout_ms"`
	MaxResponseBytes int64           `json:"max_response_bytes"`

	ReadOnlySecretSet json.RawMessage `json:"secret_set"`
}

// sealSecret applies a write-only secret field: nil keeps current, "" removes it.
func sealSecret(ctx context.Context, sealer Sealer, orgID string, given *string, current []byte) ([]byte, error) {
	switch {
	case given == nil:
		return current, nil
	case *given == "":
		return nil, nil
	case len(*given) > 4096:
		return nil, porthole.Errorf(porthole.EINVALID, "a secret is at most 4096 bytes")
	}
	return sealer.Seal(ctx, orgID, []byte(*given))
}

// configFromBody builds the configuration to store from a PUT body and the
// stored one, sealing new secrets and keeping those the body leaves out (an
// HTTP tool keeps the secret of the stored tool of the same name).
func configFromBody(ctx context.Context, sealer Sealer, orgID string, current store.AssistantConfig, b assistantConfigBody) (store.AssistantConfig, error) {
	c := store.AssistantConfig{
		OrgID: orgID, ChatbotID: current.ChatbotID, Provider: b.Provider, BaseURL: b.BaseURL, APIVersion: b.APIVersion,
		Model: b.Model, Temperature: b.Temperature, MaxTokens: b.MaxTokens, SystemPrompt: b.SystemPrompt,
		Tools:   store.AssistantTools{ContactForm: b.Tools.ContactForm, Handoff: b.Tools.Handoff, KnowledgeSearch: b.Tools.KnowledgeSearch},
		Budgets: b.Budgets, HistoryTokens: b.HistoryTokens, DefaultCountry: b.DefaultCountry,
	}
	var err error
	if c.APIKeySealed, err = sealSecret(ctx, sealer, orgID, b.APIKey, current.APIKeySealed); err != nil {
		return store.AssistantConfig{}, err
	}
	stored := map[string][]byte{}
	for _, h := range current.Tools.HTTP {
		stored[h.Name] = h.SecretSealed
	}
	for _, h := range b.Tools.HTTP {
		tool := store.AssistantHTTPTool{Name: h.Name, Description: h.Description, Schema: h.Schema, URL: h.URL, Method: h.Method,
			TimeoutMS: h.TimeoutMS, MaxResponseBytes: h.MaxResponseBytes}
		if string(tool.Schema) == "null" { // as a GET shows a tool without a schema
			tool.Schema = nil
		}
		if tool.SecretSealed, err = sealSecret(ctx, sealer, orgID, h.Secret, stored[h.Name]); err != nil {
			return store.AssistantConfig{}, err
		}
		c.Tools.HTTP = append(c.Tools.HTTP, tool)
	}
	return c, nil
}

func (s *Server) getAssistantConfig(w http.ResponseWriter, r *http.Request, p Principal) error {
	id := r.PathValue("id")
	if err := s.checkChatbotArea(r.Context(), p, id, "chatbots", auth.ReadAccess); err != nil {
		return err
	}
	c, err := s.tenant(p).AssistantConfig(r.Context(), id)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, NewAssistantConfigView(c))
}

func (s *Server) putAssistantConfig(w http.ResponseWriter, r *http.Request, p Principal) error {
	deps, err := s.assistantDeps()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.checkChatbotArea(r.Context(), p, id, "chatbots", auth.WriteAccess); err != nil {
		return err
	}
	var body assistantConfigBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	t := s.tenant(p)
	current, err := t.AssistantConfig(r.Context(), id)
	if err != nil {
		return err
	}
	next, err := configFromBody(r.Context(), deps.Sealer, p.OrgID(), current, body)
	if err != nil {
		return err
	}
	saved, err := t.PutAssistantConfig(r.Context(), next)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, NewAssistantConfigView(saved))
}
