package chatpage

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCSPPinsTheInlineBlocks recomputes each inline block's hash from the
// served body, so a page edited without its hash cannot pass.
func TestCSPPinsTheInlineBlocks(t *testing.T) {
	p := New()
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	csp := rec.Header().Get("Content-Security-Policy")
	directives := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for tag, directive := range map[string]string{"script": "script-src", "style": "style-src"} {
		blocks := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(body, -1)
		if len(blocks) != 1 {
			t.Fatalf("%d inline <%s> blocks, want 1", len(blocks), tag)
		}
		sum := sha256.Sum256([]byte(blocks[0][1]))
		if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; directives[directive] != want {
			t.Errorf("%s is %q, want exactly the block's hash %s", directive, directives[directive], want)
		}
	}
	for name, want := range map[string]string{
		"default-src": "'self'", "img-src": "data:", "base-uri": "'none'", "form-action": "'none'", "frame-ancestors": "'none'",
	} {
		if directives[name] != want {
			t.Errorf("CSP %s = %q, want %q (policy %q)", name, directives[name], want, csp)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows something unsafe: %q", csp)
	}
	for name, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-cache",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if rec.Code != http.StatusOK || p.CSP() != csp {
		t.Errorf("status %d, CSP() %q", rec.Code, p.CSP())
	}
}

// TestPageHasNoOtherScriptsOrStyles: the CSP pins only bare inline blocks,
// so any other way of bringing in code or style would be blocked in the
// browser; catch it here, with a clear message, instead.
func TestPageHasNoOtherScriptsOrStyles(t *testing.T) {
	forbidden := []struct{ re, why string }{
		{`<script[^>]`, "a <script> with attributes (src, type...) is not covered by the hash"},
		{`<style[^>]`, "a <style> with attributes"},
		{`(?i)\son[a-z]+\s*=`, "an inline event handler (blocked by the CSP; use addEventListener)"},
		{`(?i)\sstyle\s*=`, "a style attribute (blocked by the CSP)"},
		{`(?i)<link\b[^>]*>`, "a <link> other than the empty icon (the page loads nothing else)"},
		{`(?i)javascript:`, "a javascript: URL"},
		{`(?i)https?://|["'(]//`, "an absolute URL (no CDN, nothing from elsewhere)"},
		{`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function`, "HTML or code from strings: model text must stay text"},
		{`EventSource`, "EventSource cannot POST; the page reads fetch() bodies"},
	}
	// The one allowed <link>: an empty data: icon, so that no browser asks
	// for /favicon.ico.
	doc := strings.Replace(document, `<link rel="icon" href="data:,">`, "", 1)
	for _, f := range forbidden {
		if loc := regexp.MustCompile(f.re).FindStringIndex(doc); loc != nil {
			t.Errorf("page.html has %s: %q", f.why, doc[max(0, loc[0]-20):min(len(doc), loc[1]+20)])
		}
	}
}

// TestPageNames checks the accessible names and roles that users of
// screen readers, and the browser tests, rely on.
func TestPageNames(t *testing.T) {
	for _, want := range []string{
		`<label for="model">Model</label>`, `<select id="model">`,
		`<label for="message">Message</label>`, `<textarea id="message"`,
		`<button id="send" type="submit">Send</button>`, `<button id="stop" type="button" disabled>Stop</button>`,
		`<label for="apikey">API key</label>`,
		`role="log"`, `role="alert"`, `<html lang="en">`,
	} {
		if !strings.Contains(document, want) {
			t.Errorf("page.html lacks %s", want)
		}
	}
}

func TestHeadHasNoBody(t *testing.T) {
	rec := httptest.NewRecorder()
	New().ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != strconv.Itoa(len(document)) {
		t.Errorf("HEAD: status %d, %d body bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

func TestNewPageRefusesAPageWithoutInlineBlocks(t *testing.T) {
	tests := map[string]string{
		"no script": "<style>p{}</style>",
		"no style":  "<script>1</script>",
	}
	for name, doc := range tests {
		if p, err := newPage(doc); err == nil || p != nil {
			t.Errorf("%s: got %v, %v; want an error", name, p, err)
		}
	}
}

// TestNewDefersTheWork: New hashes nothing (a Lambda cold start pays for
// it otherwise); the first use builds the page, once.
func TestNewDefersTheWork(t *testing.T) {
	p := New()
	if p.csp != "" || p.body != nil {
		t.Fatal("New built the page; want it built on first use")
	}
	csp := p.CSP()
	if !strings.Contains(csp, "script-src 'sha256-") || len(p.body) == 0 {
		t.Fatalf("after CSP(): csp %q, %d bytes of body", csp, len(p.body))
	}
	rec := httptest.NewRecorder()
	New().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Header().Get("Content-Security-Policy") != csp || rec.Body.Len() != len(p.body) {
		t.Errorf("a page served before any CSP() call: CSP %q, %d bytes; want %q, %d", rec.Header().Get("Content-Security-Policy"), rec.Body.Len(), csp, len(p.body))
	}
}
