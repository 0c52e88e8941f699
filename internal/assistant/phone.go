package assistant

import (
	"strings"
)

// callingCodes maps ISO 3166-1 alpha-2 countries to their calling codes and
// whether a national number starts with a trunk prefix 0 that is dropped
// in international form. It covers the countries Porthole's businesses are
// in today; a country not listed accepts only numbers given with +.
var callingCodes = map[string]struct {
	code      string
	trunkZero bool
}{
	"US": {"1", false}, "CA": {"1", false}, "GB": {"44", true}, "IE": {"353", true}, "DE": {"49", true},
	"AT": {"43", true}, "CH": {"41", true}, "FR": {"33", true}, "BE": {"32", true}, "NL": {"31", true},
	"LU": {"352", false}, "ES": {"34", false}, "PT": {"351", false}, "IT": {"39", false}, "DK": {"45", false},
	"NO": {"47", false}, "SE": {"46", true}, "FI": {"358", true}, "PL": {"48", false}, "CZ": {"420", false},
	"GR": {"30", false}, "TR": {"90", true}, "IN": {"91", true}, "AU": {"61", true}, "NZ": {"64", true},
	"JP": {"81", true}, "KR": {"82", true}, "SG": {"65", false}, "BR": {"55", true}, "MX": {"52", false},
	"AR": {"54", true}, "ZA": {"27", true}, "AE": {"971", true}, "IL": {"972", true},
}

// NormalizePhone returns the E.164 form (+ and 8 to 15 digits) of a phone
// number a visitor typed. Spaces, dots, dashes, slashes and parentheses are
// ignored; "00" is read as "+"; a number without a country code takes
// defaultCountry's (dropping a national trunk 0 where that country uses
// one). It reports false for anything else: letters, a number too short or
// too long, or a national number with no known default country.
func NormalizePhone(raw, defaultCountry string) (string, bool) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > 40 {
		return "", false
	}
	var digits strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return "", false
		}
	}
	d := digits.String()
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	default:
		cc, ok := callingCodes[strings.ToUpper(defaultCountry)]
		if !ok {
			return "", false
		}
		if cc.trunkZero {
			if !strings.HasPrefix(d, "0") || strings.HasPrefix(d, "00") {
				return "", false
			}
			d = d[1:]
		}
		d = cc.code + d
	}
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	return "+" + d, true
}
