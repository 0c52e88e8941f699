package porthole

import (
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name, raw, country, want string
		problem                  string // part of the error message; "" means valid
	}{
		{name: "international with spaces", raw: "+49 30 1234567", want: "+49301234567"},
		{name: "international ignores default country", raw: "+44 20 7946 0958", country: "DE", want: "+442079460958"},
		{name: "00 prefix", raw: "0049 (30) 123-4567", country: "FR", want: "+49301234567"},
		{name: "national German drops trunk 0", raw: "030 1234567", country: "DE", want: "+49301234567"},
		{name: "national country code lower case", raw: "030/1234567", country: "de", want: "+49301234567"},
		{name: "national UK", raw: "020 7946 0958", country: "GB", want: "+442079460958"},
		{name: "national US ten digits", raw: "(415) 555-0100", country: "US", want: "+14155550100"},
		{name: "national US with leading 1", raw: "1-415-555-0100", country: "US", want: "+14155550100"},
		{name: "US international prefix 011", raw: "011 49 30 1234567", country: "US", want: "+49301234567"},
		{name: "Italy keeps the leading 0", raw: "06 1234 5678", country: "IT", want: "+390612345678"},
		{name: "Russia drops trunk 8", raw: "8 912 345-67-89", country: "RU", want: "+79123456789"},
		{name: "Hungary drops trunk 06", raw: "06 1 234 5678", country: "HU", want: "+3612345678"},
		{name: "Spain has no trunk", raw: "612 34 56 78", country: "ES", want: "+34612345678"},
		{name: "Brazil mobile", raw: "(11) 91234-5678", country: "BR", want: "+5511912345678"},
		{name: "India", raw: "098765 43210", country: "IN", want: "+919876543210"},
		{name: "Japan", raw: "090-1234-5678", country: "JP", want: "+819012345678"},
		{name: "Australia", raw: "0412 345 678", country: "AU", want: "+61412345678"},
		{name: "fifteen digits", raw: "+123456789012345", want: "+123456789012345"},
		{name: "eight digits", raw: "+12345678", want: "+12345678"},
		{name: "dots", raw: "+33.1.23.45.67.89", want: "+33123456789"},

		{name: "empty", raw: "   ", country: "DE", problem: "empty"},
		{name: "letters", raw: "+49 30 CALL-NOW", problem: "only digits"},
		{name: "extension", raw: "+49 30 1234567 ext 12", problem: "only digits"},
		{name: "unicode digits", raw: "+٤٩٣٠١٢٣٤٥٦٧", problem: "only digits"},
		{name: "plus in the middle", raw: "49+301234567", country: "DE", problem: "only at its start"},
		{name: "too short", raw: "+49 301", problem: "too short"},
		{name: "too short national", raw: "0301", country: "DE", problem: "too short"},
		{name: "too long", raw: "+49 30 1234567890123", problem: "too long"},
		{name: "absurdly long", raw: "+" + strings.Repeat("1", 100), problem: "too long"},
		{name: "national without country", raw: "030 1234567", problem: "country code"},
		{name: "national with unknown country", raw: "030 1234567", country: "XX", problem: "unknown country"},
		{name: "country code 0", raw: "+0 30 1234567", problem: "no valid country code"},
		{name: "only punctuation", raw: "+( )", problem: "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.raw, tt.country)
			if tt.problem == "" {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizePhone(%q, %q) = %q, %v; want %q", tt.raw, tt.country, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NormalizePhone(%q, %q) = %q; want an error about %q", tt.raw, tt.country, got, tt.problem)
			}
			if !IsCode(err, EINVALID) || !strings.Contains(ErrorMessage(err), tt.problem) {
				t.Fatalf("NormalizePhone(%q, %q) error = %v (code %s); want EINVALID about %q", tt.raw, tt.country, err, ErrorCode(err), tt.problem)
			}
		})
	}
}

func TestNormalizePhoneIsStable(t *testing.T) {
	// A normalized number normalizes to itself, whatever the default country.
	for _, raw := range []string{"+49301234567", "+14155550100", "+390612345678"} {
		for _, country := range []string{"", "DE", "US", "IT", "XX"} {
			if got, err := NormalizePhone(raw, country); err != nil || got != raw {
				t.Errorf("NormalizePhone(%q, %q) = %q, %v", raw, country, got, err)
			}
		}
	}
}

func TestCallingCodesCoverCommonCountries(t *testing.T) {
	if len(callingCodes) < 40 {
		t.Fatalf("only %d countries", len(callingCodes))
	}
	for country, cc := range callingCodes {
		if len(country) != 2 || strings.ToUpper(country) != country {
			t.Errorf("country %q is not an upper-case alpha-2 code", country)
		}
		if cc.code == "" || cc.code[0] == '0' || strings.Trim(cc.code+cc.trunk, "0123456789") != "" {
			t.Errorf("country %s has calling code %q, trunk %q", country, cc.code, cc.trunk)
		}
	}
	if code, ok := CallingCode("de"); !ok || code != "49" {
		t.Errorf("CallingCode(de) = %q, %v", code, ok)
	}
}
