package auth

import (
	_ "embed"
	"strings"
	"sync"
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

func isCommonPassword(p string) bool {
	_, ok := commonSet()[strings.ToLower(p)]
	return ok
}
