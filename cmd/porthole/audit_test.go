package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditExportAndVerify runs the operator's and the buyer's commands: the
// export verifies offline against the printed key, and any edit, removal,
// reordering or insertion of a line makes verify exit non-zero naming the
// fault.
func TestAuditExportAndVerify(t *testing.T) {
	dir := t.TempDir()
	orgID, key := mustOwnerAndKey(t, dir)
	addr, stop := startServe(t, nil, "--data-dir", dir)
	for _, name := range []string{"Front desk", "Sales", "Billing"} {
		mustPost(t, "http://"+addr+"/api/v1/chatbots", key, `{"name":"`+name+`"}`)
	}
	stop()

	code, pub, errs := runCmd(t, nil, "", "audit", "key", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(pub, "porthole-audit+") {
		t.Fatalf("audit key = %d %q %s", code, pub, errs)
	}
	pub = strings.TrimSpace(pub)
	bundle := filepath.Join(t.TempDir(), "bundle.jsonl")
	if code, _, errs := runCmd(t, nil, "", "audit", "export", "--data-dir", dir, "--org", orgID, "--out", bundle); code != 0 {
		t.Fatalf("audit export: %s", errs)
	}
	if code, _, _ := runCmd(t, nil, "", "audit", "export", "--data-dir", dir, "--org", orgID, "--out", bundle); code == 0 {
		t.Fatal("audit export overwrote an existing file")
	}
	if code, out, errs := runCmd(t, nil, "", "audit", "verify", bundle, "--public-key", pub); code != 0 {
		t.Fatalf("audit verify of an untouched bundle: %d %s %s", code, out, errs)
	}

	raw, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	entryLines := []int{}
	for i, l := range lines {
		if strings.HasPrefix(l, `{"type":"entry"`) {
			entryLines = append(entryLines, i)
		}
	}
	if len(entryLines) < 4 {
		t.Fatalf("bundle has %d entries", len(entryLines))
	}
	e1, e2 := entryLines[1], entryLines[2]
	sales := -1
	for _, i := range entryLines {
		if strings.Contains(lines[i], "Sales") {
			sales = i
		}
	}
	if sales < 0 {
		t.Fatal("no entry records the Sales chatbot")
	}
	tampered := map[string]func([]string) []string{
		"edited": func(ls []string) []string {
			ls[sales] = strings.Replace(ls[sales], "Sales", "Sa1es", 1)
			return ls
		},
		"removed": func(ls []string) []string { return append(ls[:e1:e1], ls[e1+1:]...) },
		"reordered": func(ls []string) []string {
			ls[e1], ls[e2] = ls[e2], ls[e1]
			return ls
		},
		"inserted": func(ls []string) []string {
			return append(ls[:e2:e2], append([]string{ls[e1]}, ls[e2:]...)...)
		},
		"forged key": func(ls []string) []string { return ls },
	}
	for name, edit := range tampered {
		t.Run(name, func(t *testing.T) {
			cp := append([]string(nil), lines...)
			p := filepath.Join(t.TempDir(), "b.jsonl")
			os.WriteFile(p, []byte(strings.Join(edit(cp), "")), 0o600)
			key := pub
			if name == "forged key" {
				key = "porthole-audit+deadbeef+" + strings.Repeat("A", 43) + "="
			}
			code, out, errs := runCmd(t, nil, "", "audit", "verify", p, "--public-key", key)
			if code == 0 {
				t.Fatalf("verify accepted a %s bundle: %s", name, out)
			}
			if !strings.Contains(errs, "does not verify") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("verify said %q", errs)
			}
			if name == "edited" && !bytes.Contains([]byte(errs), []byte("entry")) {
				t.Fatalf("verify did not name the edited entry: %q", errs)
			}
		})
	}
}

func mustPost(tb testing.TB, url, key, body string) {
	tb.Helper()
	req, _ := newJSONRequest("POST", url, key, body)
	resp, err := httpClient.Do(req)
	if err != nil || resp.StatusCode >= 300 {
		tb.Fatalf("POST %s = %v, %v", url, resp, err)
	}
	resp.Body.Close()
}
