// Package knowledge owns a chatbot's knowledge base: its sources (uploaded
// text, Markdown, HTML and PDF; a single URL; a sitemap crawl), their
// extraction to plain text, chunking with overlap, background ingestion with
// progress, and retrieval (full text always, fused by reciprocal rank with
// embeddings when an embeddings provider is configured).
//
// Every read and write goes through a store.KnowledgeBase handle bound to
// one (organization, chatbot) namespace, so no caller of this package can
// widen a search beyond the chatbot it names. Every URL is fetched through
// internal/fetch and never with any other HTTP client. This package must
// never import net/http handlers or a transport, and never trust a declared
// content type: content is sniffed before it is parsed.
package knowledge
