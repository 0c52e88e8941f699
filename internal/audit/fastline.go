package audit

import (
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// entryLinePrefix starts every entry line.
const entryLinePrefix = `{"type":"entry","seq":`

// parseEntryLineFast decodes an entry line that is in canonical form, which
// is nearly every line of a bundle, without reflection: encoding/json costs
// several times more and dominated verification. It accepts a line only
// when re-encoding what it read gives the line back byte for byte, so it
// never accepts what decodeBundleLine would refuse, and for such a line
// encoding/json reads the same values (the encoder's round trip is tested).
// On false the caller decodes with decodeBundleLine, which names the fault.
//
// raw is a string so that the fields are substrings of it, which costs no
// allocation; the pipeline turns a whole chunk of lines into one string.
func parseEntryLineFast(raw string, dst *bundleLine, enc *[]byte) bool {
	p := fastParser{b: raw}
	*dst = bundleLine{Type: lineEntry}
	if !p.lit(entryLinePrefix) {
		return false
	}
	var ok bool
	if dst.Seq, ok = p.int(); !ok {
		return false
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{`,"time":`, &dst.Time},
		{`,"actor_kind":`, &dst.ActorKind},
		{`,"actor_id":`, &dst.ActorID},
		{`,"conversation_id":`, &dst.ConversationID},
		{`,"action":`, &dst.Action},
		{`,"target":`, &dst.Target},
		{`,"reason":`, &dst.Reason},
		{`,"commitment":`, &dst.Commitment},
	} {
		if !p.lit(f.key) {
			return false
		}
		if *f.dst, ok = p.str(); !ok {
			return false
		}
	}
	if p.lit(`,"purged":true`) {
		dst.Purged = true
	} else {
		if !p.lit(`,"salt":`) {
			return false
		}
		if dst.Salt, ok = p.str(); !ok || !p.lit(`,"payload":`) {
			return false
		}
		start := p.i
		if !p.skipValue() {
			return false
		}
		dst.Payload = []byte(raw[start:p.i])
		if !json.Valid(dst.Payload) {
			return false
		}
	}
	if !p.lit(`,"leaf_hash":`) {
		return false
	}
	if dst.LeafHash, ok = p.str(); !ok || !p.lit("}\n") || p.i != len(raw) {
		return false
	}
	*enc = appendLine((*enc)[:0], dst)
	return string(*enc) == raw
}

type fastParser struct {
	b string
	i int
}

func (p *fastParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || p.b[p.i:p.i+len(s)] != s {
		return false
	}
	p.i += len(s)
	return true
}

func (p *fastParser) int() (int64, bool) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.ParseInt(p.b[start:p.i], 10, 64)
	return n, err == nil
}

// str reads a JSON string. It refuses what canonical form never holds (raw
// control characters, surrogate escapes) rather than interpreting it.
func (p *fastParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	p.i++
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// strEscaped finishes a string that holds escapes, from its start.
func (p *fastParser) strEscaped(start int) (string, bool) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		switch e := p.b[p.i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			if p.i+6 > len(p.b) {
				return "", false
			}
			r, err := strconv.ParseUint(p.b[p.i+2:p.i+6], 16, 32)
			if err != nil || utf16.IsSurrogate(rune(r)) {
				return "", false
			}
			out = utf8.AppendRune(out, rune(r))
			p.i += 6
			continue
		default:
			return "", false
		}
		p.i += 2
	}
	return "", false
}

// skipValue moves past one JSON value without checking it; the payload is
// checked afterwards (canonicalPayload) and the whole line by re-encoding.
func (p *fastParser) skipValue() bool {
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			if _, ok := p.str(); !ok {
				return false
			}
			if depth == 0 {
				return true
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return false
			}
			if depth == 0 {
				p.i++
				return true
			}
		case ',', '\n':
			if depth == 0 {
				return true
			}
		}
		p.i++
	}
	return false
}
