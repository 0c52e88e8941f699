package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// assistantConfigBody is the PUT /api/v1/chatbots/{id}/assistant body
// stream mode sends (internal/api's assistantConfigBody): the fake provider,
// no tools, no budgets.
type assistantConfigBody struct {
	Provider string `json:"provider"`
	BaseURL  string `json:"base_url"`
	Model    string `json:"model"`
	APIKey   string `json:"api_key"`
	// All zero: a zero budget caps nothing (store.Budget). Written out so
	// the body says "no budgets" rather than leaving it to a default.
	Budgets struct {
		Visitor budget `json:"visitor"`
		IP      budget `json:"ip"`
		Org     budget `json:"org"`
	} `json:"budgets"`
}

type budget struct {
	Messages      int64 `json:"messages"`
	Tokens        int64 `json:"tokens"`
	WindowSeconds int64 `json:"window_seconds"`
}

// configureAssistant points a chatbot's assistant at the fake provider
// through the REST API, as an integrator would, and returns the chatbot's
// id: --chatbot, or the first listed, the one the frame shows by default.
// It replaces the chatbot's assistant configuration; run it against a
// throwaway data dir.
func (l *loader) configureAssistant(ctx context.Context, baseURL string) (string, error) {
	var list struct {
		Chatbots []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"chatbots"`
	}
	if err := l.api(ctx, http.MethodGet, "/api/v1/chatbots", nil, &list); err != nil {
		return "", fmt.Errorf("listing chatbots: %w", err)
	}
	id, name := "", ""
	for _, c := range list.Chatbots {
		if l.opts.Chatbot == "" || c.ID == l.opts.Chatbot {
			id, name = c.ID, c.Name
			break
		}
	}
	switch {
	case id == "" && l.opts.Chatbot != "":
		return "", fmt.Errorf("chatbot %s is not among the API key's organization's chatbots", l.opts.Chatbot)
	case id == "":
		return "", errors.New("the API key's organization has no chatbot")
	}
	body := assistantConfigBody{Provider: "openai", BaseURL: baseURL, Model: fakeModel, APIKey: "porthole-load"}
	if err := l.api(ctx, http.MethodPut, "/api/v1/chatbots/"+url.PathEscape(id)+"/assistant", body, nil); err != nil {
		if strings.Contains(err.Error(), "base_url") {
			err = fmt.Errorf("%w (a loopback base_url needs serve --llm-allow-private-base-urls)", err)
		}
		return "", fmt.Errorf("configuring chatbot %s's assistant: %w", id, err)
	}
	fmt.Fprintf(l.out, "chatbot %s (%s): assistant set to the fake provider at %s, no tools, no budgets\n", id, name, baseURL)
	return id, nil
}

// api makes one REST API call with the --api-key and decodes the answer
// into out; an error carries the server's error message.
func (l *loader) api(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(l.opts.Target, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+l.opts.APIKey)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &env)
		err := fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, env.Error.Message)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			err = fmt.Errorf("%w (the key needs chatbots:read and chatbots:write; make one with porthole admin create-api-key --org ID --name load)", err)
		}
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
