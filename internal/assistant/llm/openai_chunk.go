package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// openAIChunk is the part of a chat.completion.chunk the adapter reads.
type openAIChunk struct {
	Choices []openAIChoice `json:"choices"`
	Usage   struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
	// Error is an error object the server sent inside the stream.
	Error json.RawMessage `json:"error"`
}

type openAIChoice struct {
	Index int64 `json:"index"`
	Delta struct {
		Content   string                `json:"content"`
		Refusal   string                `json:"refusal"`
		ToolCalls []openAIToolCallDelta `json:"tool_calls"`
	} `json:"delta"`
	FinishReason string `json:"finish_reason"`
}

type openAIToolCallDelta struct {
	Index    int64  `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// decode decodes one event's data, which must hold one JSON value and
// nothing else, into c; any other data is errMalformedStream.
//
// It is encoding/json's decoding of openAIChunk, written out: the same
// values are accepted and give the same result (FuzzOpenAIChunkDecoding
// holds it to that), without reflection. Decoding the chunk was the
// largest share of a streamed token's CPU that was not a system call
// (docs/benchmarks.md, "Eighth session"). What encoding/json does that
// the written-out decoder mirrors: keys match exactly or else by
// bytes.EqualFold; a repeated key decodes again into what the first left
// (a slice's elements included); null leaves strings, numbers and
// objects as they were, sets a slice to nil and a RawMessage to "null";
// an empty array is an empty slice, not nil; strings with invalid UTF-8
// or lone surrogates get U+FFFD; nesting deeper than 10,000 is an error.
func (p *chunkParser) decode(data []byte, c *openAIChunk) error {
	p.data, p.pos, p.depth = data, 0, 0
	p.space()
	var err error
	switch {
	case p.pos == len(data):
		err = errors.New("no JSON value")
	case p.literal("null"):
	case p.peek() == '{':
		err = p.chunk(c)
	default:
		err = p.mismatch()
	}
	// What follows the value may be space of any kind, as eventJSON lets
	// it be (bytes.TrimSpace).
	if err == nil && len(bytes.TrimSpace(data[p.pos:])) != 0 {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		return fmt.Errorf("%w: an event that is not JSON of the reply: %w", errMalformedStream, err)
	}
	return nil
}

// maxChunkDepth is encoding/json's limit on nesting.
const maxChunkDepth = 10000

// chunkParser decodes chunks (decode), one at a time; a stream keeps one,
// so the buffer it unescapes strings into is reused. Every method that
// reads a value expects pos at its first byte and leaves pos just after
// it.
type chunkParser struct {
	data  []byte
	pos   int
	depth int
	buf   []byte // a string with escapes, unescaped
}

var errChunkSyntax = errors.New("invalid JSON")

func (p *chunkParser) chunk(c *openAIChunk) error {
	return p.object(func(key []byte) error {
		switch {
		case fieldIs(key, "choices"):
			return decodeArray(p, &c.Choices, (*chunkParser).choice)
		case fieldIs(key, "usage"):
			return p.object(func(key []byte) error {
				switch {
				case fieldIs(key, "prompt_tokens"):
					return p.int(&c.Usage.PromptTokens)
				case fieldIs(key, "completion_tokens"):
					return p.int(&c.Usage.CompletionTokens)
				}
				return p.skip()
			})
		case fieldIs(key, "error"):
			start := p.pos
			if err := p.skip(); err != nil {
				return err
			}
			c.Error = append(c.Error[:0], p.data[start:p.pos]...)
			return nil
		}
		return p.skip()
	})
}

func (p *chunkParser) choice(ch *openAIChoice) error {
	return p.object(func(key []byte) error {
		switch {
		case fieldIs(key, "index"):
			return p.int(&ch.Index)
		case fieldIs(key, "delta"):
			d := &ch.Delta
			return p.object(func(key []byte) error {
				switch {
				case fieldIs(key, "content"):
					return p.string(&d.Content)
				case fieldIs(key, "refusal"):
					return p.string(&d.Refusal)
				case fieldIs(key, "tool_calls"):
					return decodeArray(p, &d.ToolCalls, (*chunkParser).toolCall)
				}
				return p.skip()
			})
		case fieldIs(key, "finish_reason"):
			return p.string(&ch.FinishReason)
		}
		return p.skip()
	})
}

func (p *chunkParser) toolCall(tc *openAIToolCallDelta) error {
	return p.object(func(key []byte) error {
		switch {
		case fieldIs(key, "index"):
			return p.int(&tc.Index)
		case fieldIs(key, "id"):
			return p.string(&tc.ID)
		case fieldIs(key, "function"):
			f := &tc.Function
			return p.object(func(key []byte) error {
				switch {
				case fieldIs(key, "name"):
					return p.string(&f.Name)
				case fieldIs(key, "arguments"):
					return p.string(&f.Arguments)
				}
				return p.skip()
			})
		}
		return p.skip()
	})
}

// fieldIs says whether an object's key names the field, as encoding/json
// matches them: exactly, or else by bytes.EqualFold (no two fields of a
// chunk's objects fold alike, so the order does not matter).
func fieldIs(key []byte, name string) bool {
	if string(key) == name {
		return true
	}
	// A letter that folds to an ASCII one is at most 4 bytes long.
	return len(key) >= len(name) && len(key) <= 4*len(name) && bytes.EqualFold(key, []byte(name))
}

// object reads an object, or null (which leaves the target as it was),
// calling member with each key and pos at the key's value.
func (p *chunkParser) object(member func(key []byte) error) error {
	if p.literal("null") {
		return nil
	}
	if p.peek() != '{' {
		return p.mismatch()
	}
	more, err := p.open('{', '}')
	for ; more && err == nil; more, err = p.next('}') {
		var key []byte
		if key, err = p.key(); err != nil {
			return err
		}
		if err = member(key); err != nil {
			return err
		}
	}
	return err
}

// decodeArray reads an array into s as encoding/json does: elements are
// decoded into those s has (not zeroed), s is cut to the array's length,
// an empty array is an empty slice and null is nil.
func decodeArray[T any](p *chunkParser, s *[]T, elem func(*chunkParser, *T) error) error {
	if p.literal("null") {
		*s = nil
		return nil
	}
	if p.peek() != '[' {
		return p.mismatch()
	}
	i := 0
	more, err := p.open('[', ']')
	for ; more && err == nil; more, err = p.next(']') {
		if i >= cap(*s) {
			*s = slices.Grow((*s)[:i], 1)
		}
		if i >= len(*s) {
			*s = (*s)[:i+1]
		}
		if err = elem(p, &(*s)[i]); err != nil {
			return err
		}
		i++
	}
	if err != nil {
		return err
	}
	*s = (*s)[:i]
	if i == 0 {
		*s = make([]T, 0)
	}
	return nil
}

// open reads an array's or object's opening byte and the space after it;
// more is false when the container is empty (its end read too).
func (p *chunkParser) open(start, end byte) (more bool, err error) {
	p.depth++
	if p.depth > maxChunkDepth {
		return false, errors.New("exceeded max depth")
	}
	p.pos++ // start
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == end {
		p.pos++
		p.depth--
		return false, nil
	}
	return true, nil
}

// next reads what follows a member or an element: a comma (more is true,
// pos at the next one) or the container's end.
func (p *chunkParser) next(end byte) (more bool, err error) {
	p.space()
	if p.pos == len(p.data) {
		return false, errChunkSyntax
	}
	switch p.data[p.pos] {
	case ',':
		p.pos++
		p.space()
		return true, nil
	case end:
		p.pos++
		p.depth--
		return false, nil
	}
	return false, errChunkSyntax
}

// key reads a member's key, the colon and the space around it; pos is
// left at the value.
func (p *chunkParser) key() ([]byte, error) {
	if p.pos == len(p.data) || p.data[p.pos] != '"' {
		return nil, errChunkSyntax
	}
	key, err := p.quoted()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos == len(p.data) || p.data[p.pos] != ':' {
		return nil, errChunkSyntax
	}
	p.pos++
	p.space()
	if p.pos == len(p.data) {
		return nil, errChunkSyntax
	}
	return key, nil
}

// string reads a string, or null (which leaves *dst as it was).
func (p *chunkParser) string(dst *string) error {
	if p.literal("null") {
		return nil
	}
	if p.peek() != '"' {
		return p.mismatch()
	}
	s, err := p.quoted()
	if err != nil {
		return err
	}
	*dst = string(s)
	return nil
}

// int reads an integer, or null (which leaves *dst as it was). A number
// that is not an int64 (a fraction, an exponent, too large) is an error.
func (p *chunkParser) int(dst *int64) error {
	if p.literal("null") {
		return nil
	}
	c := p.peek()
	if c != '-' && (c < '0' || c > '9') {
		return p.mismatch()
	}
	start := p.pos
	if err := p.number(); err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(p.data[start:p.pos]), 10, 64)
	if err != nil {
		return fmt.Errorf("the number %s is not an int64", p.data[start:p.pos])
	}
	*dst = n
	return nil
}

// mismatch reads the value at pos, which is not of the type its field
// needs: an error either way, a syntax error when the value is not JSON.
func (p *chunkParser) mismatch() error {
	if err := p.skip(); err != nil {
		return err
	}
	return errors.New("a value of the wrong type")
}

// skip reads any JSON value, checking its syntax.
func (p *chunkParser) skip() error {
	switch c := p.peek(); {
	case c == '{':
		return p.object(func([]byte) error { return p.skip() })
	case c == '[':
		more, err := p.open('[', ']')
		for ; more && err == nil; more, err = p.next(']') {
			if err = p.skip(); err != nil {
				return err
			}
		}
		return err
	case c == '"':
		_, err := p.quoted()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case p.literal("true"), p.literal("false"), p.literal("null"):
		return nil
	}
	return errChunkSyntax
}

// peek returns the byte at pos, 0 at the end.
func (p *chunkParser) peek() byte {
	if p.pos == len(p.data) {
		return 0
	}
	return p.data[p.pos]
}

// literal reads word when it is at pos.
func (p *chunkParser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

// number reads a number as JSON spells one.
func (p *chunkParser) number() error {
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		return errChunkSyntax
	}
	if i < len(d) && d[i] == '.' {
		if i++; i == len(d) || d[i] < '0' || d[i] > '9' {
			return errChunkSyntax
		}
		i = digits(d, i)
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		if i++; i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i == len(d) || d[i] < '0' || d[i] > '9' {
			return errChunkSyntax
		}
		i = digits(d, i)
	}
	p.pos = i
	return nil
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

// quoted reads a string and returns its value, valid until the next call:
// a part of data when it has no escapes and is valid UTF-8, else unescaped
// into p.buf as encoding/json unquotes (invalid UTF-8 and lone surrogates
// become U+FFFD).
func (p *chunkParser) quoted() ([]byte, error) {
	d := p.data
	start := p.pos + 1
	i := start
	for i < len(d) {
		c := d[i]
		if c == '"' {
			p.pos = i + 1
			return d[start:i], nil
		}
		if c == '\\' || c < ' ' {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(d[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	// The slow way, from where the fast one stopped.
	b := append(p.buf[:0], d[start:i]...)
	for {
		if i == len(d) {
			return nil, errChunkSyntax
		}
		c := d[i]
		switch {
		case c == '"':
			p.pos, p.buf = i+1, b
			return b, nil
		case c < ' ':
			return nil, errChunkSyntax
		case c == '\\':
			if i+1 == len(d) {
				return nil, errChunkSyntax
			}
			switch e := d[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(d[i+2:])
				if r < 0 {
					return nil, errChunkSyntax
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2 := escapedRune(d[i:]); r2 >= 0 {
						if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
							b = utf8.AppendRune(b, pair)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return nil, errChunkSyntax
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
}

// escapedRune reads a \uXXXX escape at the start of d, or returns -1.
func escapedRune(d []byte) rune {
	if len(d) < 6 || d[0] != '\\' || d[1] != 'u' {
		return -1
	}
	return hex4(d[2:])
}

// hex4 reads four hex digits at the start of d, or returns -1.
func hex4(d []byte) rune {
	if len(d) < 4 {
		return -1
	}
	var r rune
	for _, c := range d[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// space skips JSON whitespace.
func (p *chunkParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}
