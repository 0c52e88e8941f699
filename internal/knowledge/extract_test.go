package knowledge

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// mustPDF builds a minimal PDF whose one page shows content (a content
// stream), FlateDecode-compressed when compress is true.
func mustPDF(tb testing.TB, content string, compress bool) []byte {
	tb.Helper()
	stream := []byte(content)
	filter := ""
	if compress {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(stream)
		zw.Close()
		stream, filter = z.Bytes(), " /Filter /FlateDecode"
	}
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>")
	offsets = append(offsets, b.Len())
	fmt.Fprintf(&b, "4 0 obj\n<< /Length %d%s >>\nstream\n", len(stream), filter)
	b.Write(stream)
	b.WriteString("\nendstream\nendobj\n")
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

func TestPDFText(t *testing.T) {
	content := `BT /F1 12 Tf 72 720 Td (Brightsmile Dental \(Downtown\)) Tj 0 -14 Td [(Open ) -50 (Mon) 10 (day) -300 (to Friday.)] TJ
T* (Caf\351 \\ 8\0560) Tj ET
BT 72 600 Td <FEFF0048006900E9> Tj ET`
	tests := []struct {
		name     string
		compress bool
	}{{"flate", true}, {"raw", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := pdfText(mustPDF(t, content, tt.compress))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Brightsmile Dental (Downtown)", "Open Monday to Friday.", "Café \\ 8.0", "Hié"} {
				if !strings.Contains(text, want) {
					t.Errorf("text %q lacks %q", text, want)
				}
			}
		})
	}
	if _, err := pdfText(mustPDF(t, "0 0 1 rg 0 0 10 10 re f", true)); porthole.ErrorCode(err) != porthole.EINVALID {
		t.Fatalf("PDF without text: %v", err)
	}
	if _, err := pdfText([]byte("<html>not a pdf</html>")); err == nil {
		t.Fatal("HTML accepted as PDF")
	}
}

func TestSniffRefusesDisguisedFiles(t *testing.T) {
	elf := append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"), make([]byte, 64)...)
	mz := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), make([]byte, 64)...)
	htmlDoc := []byte("<!DOCTYPE html><html><body><p>hello</p></body></html>")
	tests := []struct {
		name string
		kind string
		data []byte
		ok   bool
	}{
		{"real PDF", store.KnowledgePDF, mustPDF(t, "BT (x) Tj ET", true), true},
		{"PDF that is HTML", store.KnowledgePDF, htmlDoc, false},
		{"PDF that is ELF", store.KnowledgePDF, elf, false},
		{"PDF that is a Windows exe", store.KnowledgePDF, mz, false},
		{"HTML that is ELF", store.KnowledgeHTML, elf, false},
		{"text that is a PDF", store.KnowledgeText, mustPDF(t, "BT (x) Tj ET", false), false},
		{"markdown that is binary", store.KnowledgeMarkdown, []byte{0, 1, 2, 3, 0xff, 0xfe, 0, 0}, false},
		{"HTML", store.KnowledgeHTML, htmlDoc, true},
		{"markdown", store.KnowledgeMarkdown, []byte("# Title\n\nSome *text*."), true},
		{"text not UTF-8", store.KnowledgeText, []byte("caf\xe9 ol\xe9 \xff\xfe"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDeclared(tt.kind, tt.data)
			if (err == nil) != tt.ok {
				t.Fatalf("checkDeclared = %v; want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestHTMLText(t *testing.T) {
	page := `<!DOCTYPE html><html><head><title>Prices &amp; Plans</title><style>p{color:red}</style>
<script>var secret = "script text";</script></head><body>
<nav><a href="/">Home</a> <a href="/about">NAVLINK</a></nav>
<h1>Our prices</h1><p>A cleaning costs <b>$95</b>.</p><div>Whitening: $250<br>Crowns: $900</div>
<noscript>enable JS</noscript><ul><li>one</li><li>two</li></ul>
<footer>Call 555-0100</footer><script>alert(1)</script></body></html>`
	title, text := htmlText([]byte(page))
	if title != "Prices & Plans" {
		t.Errorf("title = %q", title)
	}
	for _, bad := range []string{"secret", "color:red", "NAVLINK", "enable JS", "alert"} {
		if strings.Contains(text, bad) {
			t.Errorf("text keeps %q: %q", bad, text)
		}
	}
	for _, want := range []string{"Our prices", "A cleaning costs $95.", "Whitening: $250\n\nCrowns: $900", "one\n\ntwo", "Call 555-0100"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q: %q", want, text)
		}
	}
}

func TestMarkdownText(t *testing.T) {
	title, text := markdownText("# Insurance\n\nWe accept **Delta** and [Aetna](https://x.example).\n\n- item one\n- item two\n\n| plan | copay |\n|---|---|\n| A | $10 |\n")
	if title != "Insurance" {
		t.Errorf("title = %q", title)
	}
	for _, want := range []string{"We accept Delta and Aetna.", "item one\n\nitem two", "A $10"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q: %q", want, text)
		}
	}
	if strings.Contains(text, "https://") || strings.Contains(text, "**") {
		t.Errorf("markup left: %q", text)
	}
}

func TestChunkDocument(t *testing.T) {
	var paras []string
	for p := 0; p < 10; p++ {
		var sentences []string
		for s := 0; s < 5; s++ {
			sentences = append(sentences, fmt.Sprintf("Sentence %d of paragraph %d has exactly nine words.", s, p))
		}
		paras = append(paras, strings.Join(sentences, " "))
	}
	doc := Document{Title: "T", Text: strings.Join(paras, "\n\n")}
	chunks := chunkDocument(doc, 60, 20)
	if len(chunks) < 8 {
		t.Fatalf("%d chunks for 450 words at 60 per chunk", len(chunks))
	}
	for i, c := range chunks {
		if n := len(strings.Fields(c.Text)); n > 60 {
			t.Errorf("chunk %d has %d words", i, n)
		}
		if c.Title != "T" {
			t.Errorf("chunk %d title %q", i, c.Title)
		}
		if i > 0 {
			// Overlap: the chunk starts with the last sentences of the one before.
			first := splitSentences(strings.SplitN(c.Text, "\n\n", 2)[0])[0]
			if !strings.Contains(chunks[i-1].Text, first) {
				t.Errorf("chunk %d does not overlap the one before: starts %q", i, first)
			}
		}
	}
	// Every sentence is in some chunk.
	all := strings.Join(func() []string {
		var s []string
		for _, c := range chunks {
			s = append(s, c.Text)
		}
		return s
	}(), " ")
	if !strings.Contains(all, "Sentence 4 of paragraph 9") || !strings.Contains(all, "Sentence 0 of paragraph 0") {
		t.Error("text lost in chunking")
	}
	// A sentence longer than the budget is cut by words.
	long := chunkDocument(Document{Text: strings.Repeat("word ", 250)}, 100, 10)
	if len(long) < 3 {
		t.Fatalf("long sentence: %d chunks", len(long))
	}
}

func TestQueryTerms(t *testing.T) {
	got := queryTerms("What are your opening hours on Saturday? Saturday!")
	if strings.Join(got, ",") != "opening,hours,saturday" {
		t.Fatalf("terms = %v", got)
	}
}
