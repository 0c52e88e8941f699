package assistant

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSchemaValidate(t *testing.T) {
	s, err := parseSchema(json.RawMessage(`{"type":"object","properties":{
		"day":{"type":"string","enum":["mon","tue"]},
		"note":{"type":"string","maxLength":5},
		"people":{"type":"integer","minimum":1,"maximum":4},
		"price":{"type":"number","maximum":9.5},
		"urgent":{"type":"boolean"},
		"tags":{"type":"array","items":{"type":"string"}}},
		"required":["day"]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, args, wantErr string
	}{
		{"valid", `{"day":"mon","note":"hi","people":2,"price":9.5,"urgent":true,"tags":["a"]}`, ""},
		{"empty arguments miss required", ``, "arguments.day is required"},
		{"required", `{"note":"x"}`, "arguments.day is required"},
		{"enum", `{"day":"sun"}`, "not one of the allowed values"},
		{"max length in characters", `{"day":"mon","note":"héllo!"}`, "longer than 5"},
		{"integer", `{"day":"mon","people":1.5}`, "must be an integer"},
		{"minimum", `{"day":"mon","people":0}`, "at least 1"},
		{"maximum", `{"day":"mon","price":10}`, "at most 9.5"},
		{"boolean", `{"day":"mon","urgent":"yes"}`, "true or false"},
		{"array items", `{"day":"mon","tags":[1]}`, "arguments.tags[0] must be a string"},
		{"unknown property", `{"day":"mon","admin":true}`, "not a known property"},
		{"not an object", `["mon"]`, "must be an object"},
		{"not JSON", `{"day":`, "not valid JSON"},
		{"two values", `{"day":"mon"} {}`, "more than one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.validate(json.RawMessage(tc.args))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("validate(%s) = %v", tc.args, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("validate(%s) = %v; want %q", tc.args, err, tc.wantErr)
			}
		})
	}
	for _, bad := range []string{`{"type":"string"}`, `{"type":"object","properties":{"x":{"type":"date"}}}`, `nope`} {
		if _, err := parseSchema(json.RawMessage(bad)); err == nil {
			t.Errorf("parseSchema(%s) accepted", bad)
		}
	}
}
