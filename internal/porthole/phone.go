package porthole

import "strings"

// Phone numbers are stored in one form, E.164: "+", the country calling
// code and the national significant number, 8 to 15 digits in all. Two
// contacts with the same normalized number are the same phone, whichever
// way a visitor typed it.

// MinPhoneDigits and MaxPhoneDigits bound the digits of an E.164 number
// (country code included) that NormalizePhone accepts.
const (
	MinPhoneDigits = 8
	MaxPhoneDigits = 15
)

// callingCode is a country's calling code and the national trunk prefix
// its people dial before a national number ("0" in most of Europe, "8" in
// Russia, "" where a number is dialled the same at home and abroad).
type callingCode struct {
	code  string
	trunk string
}

// callingCodes maps ISO 3166-1 alpha-2 codes to calling codes. A country
// not listed still works for numbers given with "+" or "00"; only national
// numbers need their country here.
var callingCodes = map[string]callingCode{
	// North America (NANP): the trunk "1" is the country code itself.
	"US": {"1", "1"}, "CA": {"1", "1"},
	// Europe
	"GB": {"44", "0"}, "IE": {"353", "0"}, "DE": {"49", "0"}, "AT": {"43", "0"}, "CH": {"41", "0"},
	"FR": {"33", "0"}, "BE": {"32", "0"}, "NL": {"31", "0"}, "LU": {"352", ""}, "ES": {"34", ""},
	"PT": {"351", ""}, "IT": {"39", ""}, "DK": {"45", ""}, "NO": {"47", ""}, "SE": {"46", "0"},
	"FI": {"358", "0"}, "IS": {"354", ""}, "PL": {"48", ""}, "CZ": {"420", ""}, "SK": {"421", "0"},
	"HU": {"36", "06"}, "RO": {"40", "0"}, "BG": {"359", "0"}, "GR": {"30", ""}, "HR": {"385", "0"},
	"SI": {"386", "0"}, "RS": {"381", "0"}, "UA": {"380", "0"}, "RU": {"7", "8"}, "TR": {"90", "0"},
	// Middle East and Africa
	"IL": {"972", "0"}, "AE": {"971", "0"}, "SA": {"966", "0"}, "EG": {"20", "0"}, "ZA": {"27", "0"},
	"NG": {"234", "0"}, "KE": {"254", "0"}, "MA": {"212", "0"},
	// Asia and Oceania
	"IN": {"91", "0"}, "PK": {"92", "0"}, "BD": {"880", "0"}, "CN": {"86", "0"}, "HK": {"852", ""},
	"TW": {"886", "0"}, "JP": {"81", "0"}, "KR": {"82", "0"}, "SG": {"65", ""}, "MY": {"60", "0"},
	"ID": {"62", "0"}, "PH": {"63", "0"}, "TH": {"66", "0"}, "VN": {"84", "0"}, "AU": {"61", "0"},
	"NZ": {"64", "0"},
	// Latin America
	"MX": {"52", ""}, "BR": {"55", "0"}, "AR": {"54", "0"}, "CL": {"56", ""}, "CO": {"57", ""},
	"PE": {"51", "0"},
}

// CallingCode returns the calling code of an ISO 3166-1 alpha-2 country
// ("DE" -> "49") and whether the country is known.
func CallingCode(country string) (string, bool) {
	cc, ok := callingCodes[strings.ToUpper(strings.TrimSpace(country))]
	return cc.code, ok
}

// NormalizePhone returns the E.164 form of a phone number a person typed.
// Spaces, dots, dashes, slashes and parentheses are ignored. A number that
// starts with "+" or the international prefix "00" (or "011" in North
// America) carries its own country code; any other is a national number of
// defaultCountry (an ISO 3166-1 alpha-2 code), whose trunk prefix, when
// typed, is dropped. The error (EINVALID, safe to show) says what is wrong:
// letters or other characters, too few or too many digits, or a national
// number without a known country.
func NormalizePhone(raw, defaultCountry string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", Errorf(EINVALID, "phone number is empty")
	}
	if len(s) > 64 {
		return "", Errorf(EINVALID, "phone number is too long")
	}
	var b strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		case r == '+':
			return "", Errorf(EINVALID, "phone number may hold + only at its start")
		default:
			return "", Errorf(EINVALID, "phone number may hold only digits, spaces and + ( ) - . /")
		}
	}
	digits := b.String()
	country := strings.ToUpper(strings.TrimSpace(defaultCountry))
	cc, known := callingCodes[country]
	switch {
	case plus:
	case cc.code == "1" && strings.HasPrefix(digits, "011"):
		digits = digits[3:]
	case strings.HasPrefix(digits, "00"):
		digits = digits[2:]
	default:
		if !known {
			if country == "" {
				return "", Errorf(EINVALID, "phone number needs its country code, e.g. +49 30 1234567")
			}
			return "", Errorf(EINVALID, "unknown country %q; give the number with its country code, e.g. +49 30 1234567", defaultCountry)
		}
		national := digits
		if cc.trunk != "" && strings.HasPrefix(national, cc.trunk) {
			national = national[len(cc.trunk):]
		}
		digits = cc.code + national
	}
	switch {
	case len(digits) < MinPhoneDigits:
		return "", Errorf(EINVALID, "phone number is too short")
	case len(digits) > MaxPhoneDigits:
		return "", Errorf(EINVALID, "phone number is too long: at most %d digits with the country code", MaxPhoneDigits)
	case digits[0] == '0':
		return "", Errorf(EINVALID, "phone number has no valid country code")
	}
	return "+" + digits, nil
}
