// Package chatpage is streamgate's chat page: one self-contained HTML
// document (inline CSS and JavaScript, no framework, no build step, nothing
// loaded from elsewhere) embedded in the binary and served at GET /.
//
// The page talks only to its own origin: GET v1/models for the model
// picker, POST stream with Accept: text/event-stream for answers (read with
// fetch() and a stream reader), DELETE stream/{requestId} for Stop. Paths
// are relative to the page, so it works in local mode and under an API
// Gateway stage prefix alike.
//
// The Content-Security-Policy allows nothing but the page's own origin and
// its two inline blocks, pinned by their SHA-256 hashes, which New computes
// from the embedded document: editing the page can never leave a stale hash
// behind.
package chatpage

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

//go:embed page.html
var document string

// Page serves the chat page. It is safe for concurrent use.
type Page struct {
	once sync.Once
	body []byte
	csp  string
}

// New returns the page with its Content-Security-Policy, computed on first
// use: hashing the inline blocks is work that a Lambda cold start need not
// do before its first request, which is rarely for the page. The page
// panics then if the embedded document has no inline script or style,
// which is a build mistake that the package's tests catch.
func New() *Page { return &Page{} }

// build computes the page from the embedded document, once.
func (p *Page) build() {
	p.once.Do(func() {
		built, err := newPage(document)
		if err != nil {
			panic(err)
		}
		p.body, p.csp = built.body, built.csp
	})
}

func newPage(doc string) (*Page, error) {
	scripts, err := hashes(doc, "script")
	if err != nil {
		return nil, err
	}
	styles, err := hashes(doc, "style")
	if err != nil {
		return nil, err
	}
	csp := strings.Join([]string{
		"default-src 'self'",
		"script-src " + scripts,
		"style-src " + styles,
		// The empty data: icon keeps browsers from asking for
		// /favicon.ico, a 404 that would count as an error in the metrics.
		"img-src data:",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
	return &Page{body: []byte(doc), csp: csp}, nil
}

// hashes returns the CSP source list of the SHA-256 hashes of the inline
// blocks of tag, which cover the exact text between the tags. The blocks
// are written as bare <script> and <style> tags: the page has no other
// kind, which TestPageHasNoOtherScriptsOrStyles enforces. A plain scan,
// not a regexp: this runs at every cold start, and a lazy regexp over the
// page took half a millisecond.
func hashes(doc, tag string) (string, error) {
	open, end := "<"+tag+">", "</"+tag+">"
	var sources []string
	for rest := doc; ; {
		_, after, found := strings.Cut(rest, open)
		if !found {
			break
		}
		block, tail, closed := strings.Cut(after, end)
		if !closed {
			return "", fmt.Errorf("chatpage: an inline <%s> is not closed", tag)
		}
		sum := sha256.Sum256([]byte(block))
		sources = append(sources, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		rest = tail
	}
	if len(sources) == 0 {
		return "", fmt.Errorf("chatpage: the page has no inline <%s>", tag)
	}
	return strings.Join(sources, " "), nil
}

// CSP returns the page's Content-Security-Policy header value.
func (p *Page) CSP() string {
	p.build()
	return p.csp
}

// ServeHTTP writes the page. It answers every request it is given; the
// caller routes only GET and HEAD of the root to it.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.build()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(p.body)))
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// A new deployment's page must be picked up at once; it is small.
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(p.body)
	}
}
