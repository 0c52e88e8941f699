package knowledge

import (
	"bytes"
	"compress/zlib"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Limits of the PDF text extractor: a hostile file must not make it inflate
// gigabytes or loop for long.
const (
	maxPDFInflated = 32 << 20 // total decompressed stream bytes
	maxPDFStreams  = 10000
)

// pdfText extracts the text of a simple PDF: the text-showing operators (Tj,
// TJ, ' and ") of its content streams, raw or FlateDecode-compressed, with
// strings read as PDFDocEncoding/Latin-1 or UTF-16BE. Fonts with custom
// encodings, encrypted files and object streams are not understood; such a
// file yields little or no text and is then refused.
func pdfText(data []byte) (string, error) {
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return "", errUnsupported("the file is not a PDF")
	}
	if bytes.Contains(data, []byte("/Encrypt")) {
		return "", errUnsupported("encrypted PDFs are not supported")
	}
	var out strings.Builder
	inflated := 0
	pos := 0
	for streams := 0; streams < maxPDFStreams; streams++ {
		i := bytes.Index(data[pos:], []byte("stream"))
		if i < 0 {
			break
		}
		start := pos + i
		bodyStart := start + len("stream")
		pos = bodyStart
		// "endstream" also contains "stream": only a keyword that is followed
		// by an end of line and preceded by a dictionary opens a stream.
		if start >= 3 && string(data[start-3:start]) == "end" {
			continue
		}
		switch {
		case bytes.HasPrefix(data[bodyStart:], []byte("\r\n")):
			bodyStart += 2
		case bytes.HasPrefix(data[bodyStart:], []byte("\n")), bytes.HasPrefix(data[bodyStart:], []byte("\r")):
			bodyStart++
		default:
			continue
		}
		end := bytes.Index(data[bodyStart:], []byte("endstream"))
		if end < 0 {
			break
		}
		body := bytes.TrimRight(data[bodyStart:bodyStart+end], "\r\n")
		pos = bodyStart + end + len("endstream")
		dict := streamDict(data[:start])
		if !isContentStream(dict) {
			continue
		}
		if bytes.Contains(dict, []byte("/Filter")) {
			if !bytes.Contains(dict, []byte("/FlateDecode")) || bytes.Contains(dict, []byte("/DecodeParms")) {
				continue // other filters and predictors are not for text
			}
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				continue
			}
			dec, err := io.ReadAll(io.LimitReader(zr, int64(maxPDFInflated-inflated+1)))
			zr.Close()
			inflated += len(dec)
			if inflated > maxPDFInflated {
				return "", errUnsupported("the PDF inflates to more than %d MB", maxPDFInflated>>20)
			}
			if err != nil && len(dec) == 0 {
				continue
			}
			body = dec
		}
		if !bytes.Contains(body, []byte("BT")) {
			continue
		}
		showText(&out, body)
		out.WriteString("\n\n")
	}
	text := strings.TrimSpace(out.String())
	if text == "" {
		return "", errUnsupported("no text could be extracted from the PDF (scanned, encrypted or using unsupported fonts)")
	}
	return text, nil
}

// streamDict returns the dictionary just before a stream keyword: the text
// from the last "obj" keyword on.
func streamDict(before []byte) []byte {
	from := max(0, len(before)-4096)
	window := before[from:]
	if i := bytes.LastIndex(window, []byte("obj")); i >= 0 {
		return window[i:]
	}
	return window
}

func isContentStream(dict []byte) bool {
	for _, bad := range []string{"/Image", "/FontFile", "/Length1", "/Length2", "/Length3", "/XRef", "/ObjStm",
		"/Metadata", "/EmbeddedFile", "/ICCBased", "/Type1C", "/CIDFontType0C", "/OpenType", "/Pattern", "/Shading"} {
		if bytes.Contains(dict, []byte(bad)) {
			return false
		}
	}
	return true
}

// pdfLexer reads the tokens of a content stream.
type pdfLexer struct {
	data []byte
	pos  int
}

type pdfToken struct {
	kind byte // 's' string, 'n' number, 'o' operator, '[' and ']' array bounds, 'x' other operand
	str  []byte
	num  float64
}

func isPDFSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isPDFDelim(c byte) bool { return strings.IndexByte("()<>[]{}/%", c) >= 0 }

func (l *pdfLexer) next() (pdfToken, bool) {
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		switch {
		case isPDFSpace(c):
			l.pos++
		case c == '%':
			for l.pos < len(l.data) && l.data[l.pos] != '\n' && l.data[l.pos] != '\r' {
				l.pos++
			}
		case c == '(':
			return pdfToken{kind: 's', str: l.literal()}, true
		case c == '<':
			if l.pos+1 < len(l.data) && l.data[l.pos+1] == '<' {
				l.pos += 2
				return pdfToken{kind: 'x'}, true
			}
			return pdfToken{kind: 's', str: l.hex()}, true
		case c == '>':
			l.pos++
			if l.pos < len(l.data) && l.data[l.pos] == '>' {
				l.pos++
			}
			return pdfToken{kind: 'x'}, true
		case c == '[' || c == ']':
			l.pos++
			return pdfToken{kind: c}, true
		case c == '/':
			l.pos++
			l.regular()
			return pdfToken{kind: 'x'}, true
		case c == '{' || c == '}' || c == ')':
			l.pos++
		default:
			word := l.regular()
			if f, err := strconv.ParseFloat(string(word), 64); err == nil {
				return pdfToken{kind: 'n', num: f}, true
			}
			return pdfToken{kind: 'o', str: word}, true
		}
	}
	return pdfToken{}, false
}

func (l *pdfLexer) regular() []byte {
	start := l.pos
	for l.pos < len(l.data) && !isPDFSpace(l.data[l.pos]) && !isPDFDelim(l.data[l.pos]) {
		l.pos++
	}
	if l.pos == start { // a stray delimiter: step over it
		l.pos++
	}
	return l.data[start:l.pos]
}

// literal reads a (string) with nested parentheses and escapes.
func (l *pdfLexer) literal() []byte {
	l.pos++ // (
	depth := 1
	var b []byte
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		l.pos++
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return b
			}
		case '\\':
			if l.pos >= len(l.data) {
				return b
			}
			e := l.data[l.pos]
			l.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if l.pos < len(l.data) && l.data[l.pos] == '\n' {
					l.pos++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && l.pos < len(l.data) && l.data[l.pos] >= '0' && l.data[l.pos] <= '7'; k++ {
						v = v*8 + int(l.data[l.pos]-'0')
						l.pos++
					}
					c = byte(v)
				} else {
					c = e // \( \) \\ and unknown escapes
				}
			}
		}
		b = append(b, c)
	}
	return b
}

// hex reads a <hex string>.
func (l *pdfLexer) hex() []byte {
	l.pos++ // <
	var b []byte
	var hi byte
	half := false
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		l.pos++
		if c == '>' {
			break
		}
		v, ok := hexVal(c)
		if !ok {
			continue
		}
		if half {
			b = append(b, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		b = append(b, hi<<4)
	}
	return b
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// showText runs the text operators of a content stream and writes the text
// they show, with line breaks where the text moves to a new line.
func showText(out *strings.Builder, content []byte) {
	l := &pdfLexer{data: content}
	var operands []pdfToken
	var array []pdfToken
	inArray := false
	lastY := 0.0
	for {
		tok, ok := l.next()
		if !ok {
			return
		}
		switch tok.kind {
		case '[':
			inArray, array = true, array[:0]
			continue
		case ']':
			inArray = false
			operands = append(operands, pdfToken{kind: '['})
			continue
		case 'o':
		default:
			if inArray {
				array = append(array, tok)
			} else {
				operands = append(operands, tok)
			}
			continue
		}
		switch string(tok.str) {
		case "Tj":
			writeLastString(out, operands)
		case "'", "\"":
			out.WriteByte('\n')
			writeLastString(out, operands)
		case "TJ":
			for _, e := range array {
				switch {
				case e.kind == 's':
					out.WriteString(decodePDFString(e.str))
				case e.kind == 'n' && e.num < -180:
					out.WriteByte(' ')
				}
			}
		case "Td", "TD":
			if len(operands) >= 2 && operands[len(operands)-1].kind == 'n' {
				if operands[len(operands)-1].num != 0 {
					out.WriteByte('\n')
				} else {
					out.WriteByte(' ')
				}
			}
		case "T*":
			out.WriteByte('\n')
		case "Tm":
			if len(operands) >= 6 && operands[len(operands)-1].kind == 'n' {
				if y := operands[len(operands)-1].num; y != lastY {
					out.WriteByte('\n')
					lastY = y
				} else {
					out.WriteByte(' ')
				}
			}
		case "ET":
			out.WriteByte('\n')
		case "ID":
			// Inline image data: skip to the EI that ends it.
			if j := bytes.Index(content[l.pos:], []byte("EI")); j >= 0 {
				l.pos += j + 2
			} else {
				return
			}
		}
		operands = operands[:0]
	}
}

func writeLastString(out *strings.Builder, operands []pdfToken) {
	for i := len(operands) - 1; i >= 0; i-- {
		if operands[i].kind == 's' {
			out.WriteString(decodePDFString(operands[i].str))
			return
		}
	}
}

// decodePDFString reads a string as UTF-16BE (with its byte-order mark) or
// else byte by byte as Latin-1, dropping control characters.
func decodePDFString(b []byte) string {
	if len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF {
		u := make([]uint16, 0, len(b)/2)
		for i := 2; i+1 < len(b); i += 2 {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		}
		return string(utf16.Decode(u))
	}
	var s strings.Builder
	for _, c := range b {
		switch {
		case c == '\n' || c == '\r' || c == '\t':
			s.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
		default:
			s.WriteRune(rune(c))
		}
	}
	return s.String()
}
