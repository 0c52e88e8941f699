package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Sealer seals a secret for one organization (secrets.Vault).
type Sealer interface {
	Seal(ctx context.Context, orgID string, plaintext []byte) ([]byte, error)
}

// chatbotForArea is chatbotFor for any per-chatbot area (knowledge, say):
// no access is ENOTFOUND, read without write is EFORBIDDEN when need is
// write.
func (d *Dashboard) chatbotForArea(ctx context.Context, p auth.Principal, id, area string, need auth.Access) (porthole.Chatbot, auth.Access, error) {
	c, err := d.db.Tenant(p.Org).Chatbot(ctx, id)
	if err != nil {
		return porthole.Chatbot{}, auth.NoAccess, err
	}
	grant, err := d.auth.ChatbotGrant(ctx, p, c.ID)
	if err != nil {
		return porthole.Chatbot{}, auth.NoAccess, err
	}
	access := p.ChatbotAccess(area, grant)
	if access < auth.ReadAccess {
		return porthole.Chatbot{}, auth.NoAccess, porthole.Errorf(porthole.ENOTFOUND, "chatbot not found")
	}
	if access < need {
		return porthole.Chatbot{}, access, porthole.Errorf(porthole.EFORBIDDEN, "missing %s write access to the chatbot", area)
	}
	return c, access, nil
}

// assistantToolRow is one business HTTP tool as the form shows it; the
// secret is never shown, only whether one is set.
type assistantToolRow struct {
	Index                                  int
	Name, Description, Schema, URL, Method string
	TimeoutMS, MaxResponseBytes            string
	SecretSet                              bool
	New                                    bool // the empty row for adding a tool
}

// budgetRow is one budget's inputs.
type budgetRow struct {
	Key, Label                      string
	Messages, Tokens, WindowSeconds string
}

// assistantPage is the Data of the assistant page.
type assistantPage struct {
	Chatbot     porthole.Chatbot
	CanWrite    bool
	Provider    string
	Providers   []string
	BaseURL     string
	APIVersion  string
	Model       string
	Temperature string
	MaxTokens   string
	Prompt      string
	KeySet      bool
	Contact     bool
	Handoff     bool
	Search      bool
	Tools       []assistantToolRow
	Budgets     []budgetRow
	History     string
	Country     string
	Methods     []string
}

func itoa[T int | int64](v T) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(int64(v), 10)
}

// newAssistantPage fills the form from a configuration.
func newAssistantPage(c porthole.Chatbot, canWrite bool, cfg store.AssistantConfig) assistantPage {
	page := assistantPage{
		Chatbot: c, CanWrite: canWrite, Provider: cfg.Provider, BaseURL: cfg.BaseURL, APIVersion: cfg.APIVersion,
		Model: cfg.Model, MaxTokens: itoa(cfg.MaxTokens), Prompt: cfg.SystemPrompt, KeySet: len(cfg.APIKeySealed) > 0,
		Contact: cfg.Tools.ContactForm, Handoff: cfg.Tools.Handoff, Search: cfg.Tools.KnowledgeSearch,
		History: itoa(cfg.HistoryTokens), Country: cfg.DefaultCountry,
	}
	if cfg.Temperature != nil {
		page.Temperature = strconv.FormatFloat(*cfg.Temperature, 'f', -1, 64)
	}
	for i, h := range cfg.Tools.HTTP {
		page.Tools = append(page.Tools, assistantToolRow{Index: i, Name: h.Name, Description: h.Description, Schema: string(h.Schema),
			URL: h.URL, Method: h.Method, TimeoutMS: itoa(h.TimeoutMS), MaxResponseBytes: itoa(h.MaxResponseBytes), SecretSet: len(h.SecretSealed) > 0})
	}
	for _, b := range []struct {
		key, label string
		b          store.Budget
	}{{"visitor", "Per visitor", cfg.Budgets.Visitor}, {"ip", "Per client IP", cfg.Budgets.IP}, {"org", "Whole organization", cfg.Budgets.Org}} {
		page.Budgets = append(page.Budgets, budgetRow{Key: b.key, Label: b.label, Messages: itoa(b.b.Messages), Tokens: itoa(b.b.Tokens), WindowSeconds: itoa(b.b.WindowSeconds)})
	}
	return page
}

func (d *Dashboard) assistantPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, access, err := d.chatbotFor(r.Context(), p, r.PathValue("id"), auth.ReadAccess)
	if err != nil {
		return err
	}
	cfg, err := d.db.Tenant(p.Org).AssistantConfig(r.Context(), c.ID)
	if err != nil {
		return err
	}
	d.showAssistant(w, r, p, http.StatusOK, doneNotice(r), newAssistantPage(c, access >= auth.WriteAccess, cfg))
	return nil
}

func (d *Dashboard) showAssistant(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice, page assistantPage) {
	page.Providers = []string{store.AssistantBuiltin, store.AssistantOpenAI, store.AssistantAzureOpenAI, store.AssistantAnthropic}
	page.Methods = []string{"POST", "PUT", "PATCH", "GET"}
	if page.CanWrite && len(page.Tools) < store.MaxHTTPTools {
		next := 0
		for _, t := range page.Tools {
			next = max(next, t.Index+1)
		}
		page.Tools = append(page.Tools, assistantToolRow{Index: next, New: true, Method: "POST"})
	}
	v := d.frame(r, p, "chatbots", "Assistant · "+page.Chatbot.Name)
	v.Notice, v.Data = n, page
	d.renderStatus(w, r, status, "assistant", v)
}

// saveAssistant stores the assistant form. The API key and tool secrets
// are write-only: a blank field keeps what is stored; they are sealed
// with the organization's key before storage.
func (d *Dashboard) saveAssistant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	c, _, err := d.chatbotFor(ctx, p, r.PathValue("id"), auth.WriteAccess)
	if err != nil {
		return err
	}
	t := d.db.Tenant(p.Org)
	current, err := t.AssistantConfig(ctx, c.ID)
	if err != nil {
		return err
	}
	next, formErr := d.assistantFromForm(ctx, r, p.Org, current)
	if formErr == nil {
		_, formErr = t.PutAssistantConfig(ctx, next)
	}
	if formError(formErr) {
		page := newAssistantPage(c, true, next)
		page.Tools = toolRowsFromForm(r) // keep what was typed, bad JSON included
		d.showAssistant(w, r, p, httpStatus(formErr), notice{Error: porthole.ErrorMessage(formErr)}, page)
		return nil
	}
	if formErr != nil {
		return formErr
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID+"/assistant", "assistant-saved")
	return nil
}

// formInt parses an optional whole-number field ("" is 0).
func formInt(r *http.Request, field string) (int64, error) {
	v := strings.TrimSpace(r.PostFormValue(field))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, porthole.Errorf(porthole.EINVALID, "%s must be a whole number", strings.ReplaceAll(field, "_", " "))
	}
	return n, nil
}

// toolCount is how many tool rows the form may hold (the stored ones and
// one new row).
const toolCount = store.MaxHTTPTools + 1

// assistantFromForm builds the configuration from the form. It returns the
// configuration as far as it got, so a refused form is shown again as typed.
func (d *Dashboard) assistantFromForm(ctx context.Context, r *http.Request, orgID string, current store.AssistantConfig) (store.AssistantConfig, error) {
	cfg := store.AssistantConfig{
		OrgID: orgID, ChatbotID: current.ChatbotID, Provider: r.PostFormValue("provider"),
		BaseURL: strings.TrimSpace(r.PostFormValue("base_url")), APIVersion: strings.TrimSpace(r.PostFormValue("api_version")),
		Model: strings.TrimSpace(r.PostFormValue("model")), SystemPrompt: r.PostFormValue("system_prompt"),
		Tools: store.AssistantTools{ContactForm: r.PostFormValue("tool_contact_form") == "on", Handoff: r.PostFormValue("tool_handoff") == "on",
			KnowledgeSearch: r.PostFormValue("tool_knowledge_search") == "on"},
		DefaultCountry: strings.ToUpper(strings.TrimSpace(r.PostFormValue("default_country"))),
		APIKeySealed:   current.APIKeySealed,
	}
	var err error
	if v := strings.TrimSpace(r.PostFormValue("temperature")); v != "" {
		f, perr := strconv.ParseFloat(v, 64)
		if perr != nil {
			return cfg, porthole.Errorf(porthole.EINVALID, "temperature must be a number between 0 and 2")
		}
		cfg.Temperature = &f
	}
	ints := []struct {
		field string
		dst   func(int64)
	}{
		{"max_tokens", func(n int64) { cfg.MaxTokens = int(n) }},
		{"history_tokens", func(n int64) { cfg.HistoryTokens = int(n) }},
		{"budget_visitor_messages", func(n int64) { cfg.Budgets.Visitor.Messages = n }},
		{"budget_visitor_tokens", func(n int64) { cfg.Budgets.Visitor.Tokens = n }},
		{"budget_visitor_window_seconds", func(n int64) { cfg.Budgets.Visitor.WindowSeconds = n }},
		{"budget_ip_messages", func(n int64) { cfg.Budgets.IP.Messages = n }},
		{"budget_ip_tokens", func(n int64) { cfg.Budgets.IP.Tokens = n }},
		{"budget_ip_window_seconds", func(n int64) { cfg.Budgets.IP.WindowSeconds = n }},
		{"budget_org_messages", func(n int64) { cfg.Budgets.Org.Messages = n }},
		{"budget_org_tokens", func(n int64) { cfg.Budgets.Org.Tokens = n }},
		{"budget_org_window_seconds", func(n int64) { cfg.Budgets.Org.WindowSeconds = n }},
	}
	for _, f := range ints {
		n, err := formInt(r, f.field)
		if err != nil {
			return cfg, err
		}
		f.dst(n)
	}
	switch key := r.PostFormValue("api_key"); {
	case r.PostFormValue("clear_api_key") == "on":
		cfg.APIKeySealed = nil
	case key != "":
		if len(key) > 4096 {
			return cfg, porthole.Errorf(porthole.EINVALID, "the API key is too long")
		}
		if cfg.APIKeySealed, err = d.sealer.Seal(ctx, orgID, []byte(key)); err != nil {
			return cfg, err
		}
	}
	stored := map[string][]byte{}
	for _, h := range current.Tools.HTTP {
		stored[h.Name] = h.SecretSealed
	}
	for _, row := range toolRowsFromForm(r) {
		if r.PostFormValue(fmt.Sprintf("tool_%d_remove", row.Index)) == "on" {
			continue
		}
		tool := store.AssistantHTTPTool{Name: row.Name, Description: row.Description, URL: row.URL, Method: row.Method}
		if row.Schema != "" {
			if !json.Valid([]byte(row.Schema)) {
				return cfg, porthole.Errorf(porthole.EINVALID, "the JSON schema of tool %q is not valid JSON", row.Name)
			}
			tool.Schema = json.RawMessage(row.Schema)
		}
		n, err := formInt(r, fmt.Sprintf("tool_%d_timeout_ms", row.Index))
		if err != nil {
			return cfg, err
		}
		tool.TimeoutMS = int(n)
		if tool.MaxResponseBytes, err = formInt(r, fmt.Sprintf("tool_%d_max_response_bytes", row.Index)); err != nil {
			return cfg, err
		}
		tool.SecretSealed = stored[tool.Name]
		switch secret := r.PostFormValue(fmt.Sprintf("tool_%d_secret", row.Index)); {
		case r.PostFormValue(fmt.Sprintf("tool_%d_clear_secret", row.Index)) == "on":
			tool.SecretSealed = nil
		case secret != "":
			if len(secret) > 4096 {
				return cfg, porthole.Errorf(porthole.EINVALID, "the secret of tool %q is too long", row.Name)
			}
			if tool.SecretSealed, err = d.sealer.Seal(ctx, orgID, []byte(secret)); err != nil {
				return cfg, err
			}
		}
		cfg.Tools.HTTP = append(cfg.Tools.HTTP, tool)
	}
	return cfg, nil
}

// toolRowsFromForm reads the tool rows the form sent, skipping empty ones
// (the unused "add a tool" row).
func toolRowsFromForm(r *http.Request) []assistantToolRow {
	var rows []assistantToolRow
	for i := range toolCount {
		f := func(name string) string {
			return strings.TrimSpace(r.PostFormValue(fmt.Sprintf("tool_%d_%s", i, name)))
		}
		row := assistantToolRow{Index: i, Name: f("name"), Description: f("description"), Schema: f("schema"), URL: f("url"),
			Method: f("method"), TimeoutMS: f("timeout_ms"), MaxResponseBytes: f("max_response_bytes")}
		if row.Name == "" && row.Description == "" && row.Schema == "" && row.URL == "" {
			continue
		}
		rows = append(rows, row)
	}
	return rows
}
