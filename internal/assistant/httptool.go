package assistant

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/porthole-chat/porthole/internal/fetch"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Headers of a business HTTP tool request.
const (
	HeaderTimestamp = "X-Porthole-Timestamp"
	HeaderSignature = "X-Porthole-Signature"
)

// Defaults of a business HTTP tool.
const (
	DefaultToolTimeout       = 10 * time.Second
	DefaultToolResponseBytes = 64 << 10
)

// SignToolRequest returns the X-Porthole-Signature value of a tool request:
// "v1=" and the hex HMAC-SHA256, keyed with the tool's secret, of the
// timestamp (Unix seconds), a dot and the body.
func SignToolRequest(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// toolResult is what the model reads back from a business tool.
type toolResult struct {
	Status    int    `json:"status"`
	Body      string `json:"body"`
	Truncated bool   `json:"truncated,omitempty"`
}

// httpTool calls a business-defined tool: the validated arguments as a JSON
// body (GET: as query parameters), signed, through the SSRF-safe client,
// within the tool's time and size caps.
func (e *Engine) httpTool(def store.AssistantHTTPTool) toolHandler {
	return func(ctx context.Context, ts *turnState, args json.RawMessage) (string, bool) {
		if e.cfg.Fetcher == nil {
			return "Error: this tool is not available right now.", true
		}
		timeout := DefaultToolTimeout
		if def.TimeoutMS > 0 {
			timeout = time.Duration(def.TimeoutMS) * time.Millisecond
		}
		maxBytes := int64(DefaultToolResponseBytes)
		if def.MaxResponseBytes > 0 {
			maxBytes = def.MaxResponseBytes
		}
		method := def.Method
		if method == "" {
			method = "POST"
		}
		target := def.URL
		var body []byte
		if method == "GET" {
			u, err := url.Parse(def.URL)
			if err != nil {
				return "Error: the tool is misconfigured.", true
			}
			var fields map[string]json.RawMessage
			_ = json.Unmarshal(args, &fields)
			q := u.Query()
			for k, v := range fields {
				var s string
				if json.Unmarshal(v, &s) != nil {
					s = string(v)
				}
				q.Set(k, s)
			}
			u.RawQuery = q.Encode()
			target = u.String()
		} else {
			var buf bytes.Buffer
			if err := json.Compact(&buf, args); err != nil || buf.Len() == 0 {
				buf.Reset()
				buf.WriteString("{}")
			}
			body = buf.Bytes()
		}
		header := map[string][]string{"Content-Type": {"application/json"}, "Accept": {"application/json, text/plain"}}
		ts64 := strconv.FormatInt(time.Now().Unix(), 10)
		header[HeaderTimestamp] = []string{ts64}
		if len(def.SecretSealed) > 0 {
			if e.cfg.Vault == nil {
				return "Error: this tool is not available right now.", true
			}
			secret, err := e.cfg.Vault.Open(ctx, ts.in.OrgID, def.SecretSealed)
			if err != nil {
				e.cfg.Logger.Error("assistant: unable to open a tool secret", "tool", def.Name, "err", err)
				return "Error: this tool is not available right now.", true
			}
			header[HeaderSignature] = []string{SignToolRequest(secret, ts64, body)}
			clear(secret)
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := e.cfg.Fetcher.Do(cctx, fetch.Request{Method: method, URL: target, Header: header, Body: body, OrgID: ts.in.OrgID})
		if err != nil {
			e.cfg.Logger.Warn("assistant: tool call failed", "tool", def.Name, "err", err)
			switch {
			case errors.Is(err, fetch.ErrRefused):
				return "Error: the tool's address is not allowed.", true
			case errors.Is(err, fetch.ErrTooLarge) || porthole.IsCode(err, porthole.ETOOLARGE):
				return "Error: the tool's response was too large.", true
			case cctx.Err() != nil && ctx.Err() == nil:
				return "Error: the tool did not answer in time.", true
			}
			return "Error: the tool could not be reached.", true
		}
		res := toolResult{Status: resp.StatusCode, Body: string(resp.Body)}
		if int64(len(resp.Body)) > maxBytes {
			res.Body, res.Truncated = truncateRunes(string(resp.Body), int(maxBytes)), true
		}
		out, _ := json.Marshal(res)
		return string(out), resp.StatusCode >= 400
	}
}
