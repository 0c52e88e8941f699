package llm

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/porthole-chat/porthole/internal/assistant/llm/llmtest"
)

// A chunk as OpenAI sends it, with the fields the adapter does not read.
const realChunk = `{"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1731000000,"model":"gpt-4o-mini-2024-07-18",` +
	`"service_tier":"default","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"content":" the"},` +
	`"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"k4nU"}`

// chunkSeeds are the fuzz test's seeds and the agreement test's cases:
// what providers send, and what encoding/json treats in its own ways.
func chunkSeeds() []string {
	return []string{
		realChunk,
		llmtest.OpenAIRole(),
		llmtest.OpenAIText("Hello, \"world\" \\ \u00e9\u4e16\U0001F600\n"),
		llmtest.OpenAIToolCall(0, "call_1", "search", `{"q":`),
		llmtest.OpenAIToolCall(1, "", "", `"x"}`),
		llmtest.OpenAIFinish("tool_calls"),
		llmtest.OpenAIUsage(12, 34),
		llmtest.OpenAIError("server_error", "overloaded"),
		`{"choices":[{"index":0,"delta":{"refusal":"no"},"finish_reason":"content_filter"}]}`,
		// Escapes, surrogates and invalid UTF-8 in strings and keys.
		`{"choices":[{"delta":{"content":"\u00e9\ud83d\ude00\ud83d\u0041\udc00\ud800\"\/\b\f\n\r\t"}}]}`,
		"{\"choices\":[{\"delta\":{\"content\":\"a\xffb\xed\xa0\x80c\xc3\"}}]}",
		`{"\u0063hoices":[{"delta":{"\u0063ontent":"escaped keys"}}]}`,
		// Keys match by case folding, the Kelvin sign and the long s included.
		`{"CHOICES":[{"Delta":{"Content":"folded"},"INDEX":0}],"Usage":{"Prompt_Tokens":1}}`,
		"{\"choice\u017f\":[{\"delta\":{\"content\":\"long s\"}}],\"usage\":{\"prompt_to\u212aens\":7}}",
		// Repeated keys decode again into what the first left.
		`{"choices":[{"index":1,"delta":{"content":"a"}},{"index":2}],"choices":[{"finish_reason":"stop"}]}`,
		`{"choices":[{"index":1},{"index":2}],"choices":[{}],"choices":[{},{}]}`,
		`{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2},"error":{"a":1},"error":null}`,
		// null, empty and absent.
		`null`, `{}`, ` {"choices":[]} `, `{"choices":null}`, `{"choices":[null,{"delta":null}]}`,
		`{"choices":[{"index":null,"delta":{"content":null,"tool_calls":null}}],"usage":null,"error":null}`,
		`{"choices":[{"delta":{"tool_calls":[]}}]}`, `{"error":[ 1, {"b" : [true,false,null]} ]}`,
		// Numbers.
		`{"choices":[{"index":-0}],"usage":{"prompt_tokens":9223372036854775807}}`,
		`{"usage":{"prompt_tokens":9223372036854775808}}`, `{"usage":{"prompt_tokens":1.0}}`,
		`{"usage":{"prompt_tokens":1e2}}`, `{"usage":{"prompt_tokens":"1"}}`, `{"other":-1.5e+10}`,
		`{"other":01}`, `{"other":1.}`, `{"other":-}`, `{"other":1e}`, `{"other":.5}`,
		// Wrong types and broken JSON.
		`[]`, `"chunk"`, `5`, `true`, `{"choices":{}}`, `{"choices":[5]}`, `{"usage":[]}`,
		`{"choices":[{"delta":"x"}]}`, `{"choices":[{"delta":{"content":5}}]}`,
		`{"choices":[{"delta":{"content":true}}]}`, `{"choices":[{"finish_reason":{}}]}`,
		`{"choices":[],}`, `{"a":1 "b":2}`, `{a:1}`, `{"a"}`, `{"a":}`, `[1,]`, `{"a":[1,]}`,
		`{"a":"x\q"}`, `{"a":"\u12"}`, "{\"a\":\"tab\there\"}", `{"a":"open`, `{"a":1`, `{`, ``, `   `,
		`{} {}`, `{}x`, `nul`, `nullx`, `{"a":tru}`, `{"a":nul}`, `{"a":falsey}`,
	}
}

// referenceChunk decodes data as the adapter did before chunkParser:
// encoding/json, through eventJSON, into a chunk reset as nextChunk
// resets it, after a first chunk that filled it.
func referenceChunk(data []byte) (openAIChunk, error) {
	var c openAIChunk
	e := newEventJSON()
	_ = e.decode([]byte(realChunk), &c)
	resetChunk(&c)
	err := newEventJSON().decode(data, &c)
	return c, err
}

func writtenOutChunk(data []byte) (openAIChunk, error) {
	var c openAIChunk
	var p chunkParser
	_ = p.decode([]byte(realChunk), &c)
	resetChunk(&c)
	err := p.decode(data, &c)
	return c, err
}

func sameAsEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := referenceChunk(data)
	got, err := writtenOutChunk(data)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, encoding/json's %v", data, err, wantErr)
	}
	if err != nil {
		if !errors.Is(err, errMalformedStream) {
			t.Fatalf("%q: error %v is not errMalformedStream", data, err)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}

func TestOpenAIChunkDecodingAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range chunkSeeds() {
		sameAsEncodingJSON(t, []byte(s))
	}
	// encoding/json refuses nesting over 10,000 deep.
	for _, depth := range []int{9999, 10000, 10001} {
		deep := `{"error":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
		sameAsEncodingJSON(t, []byte(deep))
		if _, err := writtenOutChunk([]byte(deep)); (err == nil) != (depth <= 10000) {
			t.Fatalf("depth %d: error %v", depth, err)
		}
	}
}

func FuzzOpenAIChunkDecoding(f *testing.F) {
	for _, s := range chunkSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(sameAsEncodingJSON)
}

// The values the adapter reads, not only agreement with encoding/json.
func TestOpenAIChunkDecoding(t *testing.T) {
	c, err := writtenOutChunk([]byte(realChunk))
	if err != nil || len(c.Choices) != 1 || c.Choices[0].Delta.Content != " the" || c.Choices[0].FinishReason != "" || len(c.Error) != 0 {
		t.Fatalf("real chunk: %#v, %v", c, err)
	}
	c, err = writtenOutChunk([]byte(`{"choices":[{"delta":{"content":"caf\u00e9 \ud83d\ude00 \"q\"\n"}}]}`))
	if err != nil || c.Choices[0].Delta.Content != "café 😀 \"q\"\n" {
		t.Fatalf("escapes: %q, %v", c.Choices[0].Delta.Content, err)
	}
	c, err = writtenOutChunk([]byte(llmtest.OpenAIToolCall(2, "call_9", "lookup", `{"id":`)))
	tc := c.Choices[0].Delta.ToolCalls
	if err != nil || len(tc) != 1 || tc[0].Index != 2 || tc[0].ID != "call_9" || tc[0].Function.Name != "lookup" || tc[0].Function.Arguments != `{"id":` {
		t.Fatalf("tool call: %#v, %v", tc, err)
	}
	c, err = writtenOutChunk([]byte(llmtest.OpenAIUsage(12, 34)))
	if err != nil || c.Usage.PromptTokens != 12 || c.Usage.CompletionTokens != 34 || c.Choices == nil || len(c.Choices) != 0 {
		t.Fatalf("usage: %#v, %v", c, err)
	}
	c, err = writtenOutChunk([]byte(`{"error" : {"message":"overloaded"} }`))
	if err != nil || string(c.Error) != `{"message":"overloaded"}` {
		t.Fatalf("error object: %q, %v", c.Error, err)
	}
	for _, bad := range []string{`{"choices":[{"delta":{"content":5}}]}`, `{"choices":[}`, `{} {}`, `[]`, ""} {
		if _, err := writtenOutChunk([]byte(bad)); !errors.Is(err, errMalformedStream) {
			t.Fatalf("%q: error %v, want errMalformedStream", bad, err)
		}
	}
}

func BenchmarkOpenAIChunkDecoding(b *testing.B) {
	data := []byte(realChunk)
	b.Run("encoding-json", func(b *testing.B) {
		var c openAIChunk
		e := newEventJSON()
		b.ReportAllocs()
		for b.Loop() {
			resetChunk(&c)
			if err := e.decode(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("written-out", func(b *testing.B) {
		var c openAIChunk
		var p chunkParser
		b.ReportAllocs()
		for b.Loop() {
			resetChunk(&c)
			if err := p.decode(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
