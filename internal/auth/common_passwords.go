package auth

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
)

// commonPasswords lists passwords from public breach-frequency tables that
// are at least MinPasswordRunes long (shorter ones fail on length anyway),
// one per line, lower case.
//
//go:embed common_passwords.txt
var commonPasswords string

var commonSet = sync.OnceValue(func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, line := range strings.Split(commonPasswords, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[line] = struct{}{}
		}
	}
	return m
})

// commonBases are the words most breached passwords are built on; a
// password that is one of them (or two of them) plus digits and symbols is
// refused, whatever the digits.
var commonBases = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`password passw0rd p@ssword p@ssw0rd qwerty qwertz azerty asdf zxcv iloveyou
		welcome letmein admin administrator root login master secret changeme default guest test user
		football baseball soccer hockey basketball monkey dragon sunshine princess shadow superman batman
		michael jennifer jordan hunter ranger buster thomas charlie daniel jessica ashley computer internet
		starwars pokemon whatever freedom trustno1 summer winter spring autumn fall love lovely flower
		hello hellokitty abc abcd abcdef porthole chatbot company`) {
		commonBases[w] = true
	}
}

// isCommonPassword reports whether p is on the list of common passwords or
// is built the way common passwords are: a common word (or two) padded with
// digits and symbols, one short unit repeated, a straight run of letters or
// digits, or a walk along a keyboard row.
func isCommonPassword(p string) bool {
	lower := strings.ToLower(p)
	if _, ok := commonSet()[lower]; ok {
		return true
	}
	core := strings.TrimFunc(lower, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r == ' ' })
	if core == "" || commonBases[core] || isTwoBases(core) {
		return true
	}
	return isRepeatedUnit(lower) || isStraightRun(lower)
}

func isTwoBases(s string) bool {
	for i := 1; i < len(s); i++ {
		if commonBases[s[:i]] && commonBases[s[i:]] {
			return true
		}
	}
	return false
}

// isRepeatedUnit reports whether s is a unit of at most 4 characters
// repeated ("aaaaaaaaaaaa", "abcabcabcabc", "1212121212121").
func isRepeatedUnit(s string) bool {
	r := []rune(s)
	for unit := 1; unit <= 4 && unit < len(r); unit++ {
		repeated := true
		for i := unit; i < len(r); i++ {
			if r[i] != r[i-unit] {
				repeated = false
				break
			}
		}
		if repeated {
			return true
		}
	}
	return false
}

// keyboardRows are the rows a keyboard walk follows, in both directions.
var keyboardRows = []string{"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz", "qwertzuiop", "azertyuiop"}

// isStraightRun reports whether s, ignoring case, is wholly made of runs of
// at least 4 consecutive characters along a keyboard row or the alphabet
// ("1234567890ab" is not, "qwertyuiop123" is: "qwertyuiop" + "123" is a
// row run padded with digits).
func isStraightRun(s string) bool {
	core := strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) })
	if len(core) < 4 {
		core = s
	}
	for _, row := range keyboardRows {
		for _, line := range []string{row, reverse(row)} {
			if len(core) >= 6 && strings.Contains(line+line, core) {
				return true
			}
		}
	}
	return false
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}
