package assistant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"unicode/utf8"
)

// schema is the subset of JSON Schema a business tool may use: type
// (object, string, number, integer, boolean, array), properties, required,
// items, enum, maxLength, minimum and maximum. Objects never accept a
// property the schema does not name.
type schema struct {
	Type       string             `json:"type"`
	Properties map[string]*schema `json:"properties"`
	Required   []string           `json:"required"`
	Items      *schema            `json:"items"`
	Enum       []json.RawMessage  `json:"enum"`
	MaxLength  *int               `json:"maxLength"`
	Minimum    *float64           `json:"minimum"`
	Maximum    *float64           `json:"maximum"`
}

// maxSchemaDepth bounds nesting, of the schema and of the arguments.
const maxSchemaDepth = 8

// parseSchema reads a tool's schema; empty means an object with no
// properties.
func parseSchema(raw json.RawMessage) (*schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return &schema{Type: "object"}, nil
	}
	var s schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("the schema is not valid JSON: %v", err)
	}
	if s.Type != "object" {
		return nil, fmt.Errorf("the schema must be of type object")
	}
	if err := s.check(0); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *schema) check(depth int) error {
	if depth > maxSchemaDepth {
		return fmt.Errorf("the schema is nested too deeply")
	}
	switch s.Type {
	case "object":
		for _, p := range s.Properties {
			if p == nil {
				return fmt.Errorf("a property has no schema")
			}
			if err := p.check(depth + 1); err != nil {
				return err
			}
		}
	case "array":
		if s.Items != nil {
			return s.Items.check(depth + 1)
		}
	case "string", "number", "integer", "boolean":
	default:
		return fmt.Errorf("unsupported schema type %q", s.Type)
	}
	return nil
}

// validate checks arguments the model produced against s and returns the
// first problem, in words the model can act on.
func (s *schema) validate(raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("the arguments are not valid JSON")
	}
	if dec.More() {
		return fmt.Errorf("the arguments hold more than one JSON value")
	}
	return s.validateValue("arguments", v, 0)
}

func (s *schema) validateValue(path string, v any, depth int) error {
	if depth > maxSchemaDepth {
		return fmt.Errorf("%s is nested too deeply", path)
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s must be an object", path)
		}
		for _, name := range s.Required {
			if _, ok := obj[name]; !ok {
				return fmt.Errorf("%s.%s is required", path, name)
			}
		}
		names := make([]string, 0, len(obj))
		for name := range obj {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			p, ok := s.Properties[name]
			if !ok {
				return fmt.Errorf("%s.%s is not a known property", path, name)
			}
			if err := p.validateValue(path+"."+name, obj[name], depth+1); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s must be an array", path)
		}
		if s.Items != nil {
			for i, item := range arr {
				if err := s.Items.validateValue(fmt.Sprintf("%s[%d]", path, i), item, depth+1); err != nil {
					return err
				}
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s must be a string", path)
		}
		if s.MaxLength != nil && utf8.RuneCountInString(str) > *s.MaxLength {
			return fmt.Errorf("%s is longer than %d characters", path, *s.MaxLength)
		}
	case "number", "integer":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s must be a %s", path, s.Type)
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return fmt.Errorf("%s is not a usable number", path)
		}
		if s.Type == "integer" && f != math.Trunc(f) {
			return fmt.Errorf("%s must be an integer", path)
		}
		if s.Minimum != nil && f < *s.Minimum {
			return fmt.Errorf("%s must be at least %v", path, *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			return fmt.Errorf("%s must be at most %v", path, *s.Maximum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s must be true or false", path)
		}
	}
	if len(s.Enum) > 0 && !inEnum(s.Enum, v) {
		return fmt.Errorf("%s is not one of the allowed values", path)
	}
	return nil
}

func inEnum(enum []json.RawMessage, v any) bool {
	got, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(enum, func(e json.RawMessage) bool {
		var ev any
		dec := json.NewDecoder(bytes.NewReader(e))
		dec.UseNumber()
		if dec.Decode(&ev) != nil {
			return false
		}
		want, err := json.Marshal(ev)
		return err == nil && bytes.Equal(want, got)
	})
}
