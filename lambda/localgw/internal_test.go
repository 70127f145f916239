package localgw

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPreludeParserSplitAnywhere(t *testing.T) {
	head := `{"statusCode":201,"headers":{"A":"1"},"multiValueHeaders":{"B":["2","3"]},"cookies":["c=4"]}`
	stream := []byte(head + "\x00\x00\x00\x00\x00\x00\x00\x00" + "body\x00bytes")
	want := prelude{StatusCode: 201, Headers: map[string]string{"A": "1"},
		MultiValueHeaders: map[string][]string{"B": {"2", "3"}}, Cookies: []string{"c=4"}}

	for size := 1; size <= len(stream); size++ {
		var pp preludeParser
		var body []byte
		for off := 0; off < len(stream); off += size {
			piece := stream[off:min(off+size, len(stream))]
			if pp.done {
				body = append(body, piece...)
				continue
			}
			rest, err := pp.feed(piece)
			if err != nil {
				t.Fatalf("piece size %d: %v", size, err)
			}
			body = append(body, rest...)
		}
		if !pp.done {
			t.Fatalf("piece size %d: prelude not found", size)
		}
		if diff := cmp.Diff(want, pp.prelude); diff != "" {
			t.Fatalf("piece size %d: prelude (-want +got):\n%s", size, diff)
		}
		if string(body) != "body\x00bytes" {
			t.Fatalf("piece size %d: body %q", size, body)
		}
	}
}

func TestPreludeParserEdgeCases(t *testing.T) {
	nul8 := "\x00\x00\x00\x00\x00\x00\x00\x00"
	t.Run("empty object", func(t *testing.T) {
		var pp preludeParser
		rest, err := pp.feed([]byte("{}" + nul8 + "x"))
		if err != nil || !pp.done || string(rest) != "x" || pp.prelude.StatusCode != 0 {
			t.Errorf("rest %q err %v done %v prelude %+v", rest, err, pp.done, pp.prelude)
		}
	})
	t.Run("seven NULs are not a delimiter", func(t *testing.T) {
		var pp preludeParser
		_, err := pp.feed([]byte("{}" + nul8[:7]))
		if err != nil || pp.done {
			t.Errorf("done %v err %v", pp.done, err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		var pp preludeParser
		if _, err := pp.feed([]byte("{nope" + nul8)); err == nil {
			t.Errorf("no error")
		}
	})
	t.Run("too long", func(t *testing.T) {
		var pp preludeParser
		if _, err := pp.feed(bytes.Repeat([]byte("a"), maxPreludeBytes+1)); err == nil {
			t.Errorf("no error")
		}
	})
}

func TestApplyHeadersMergesLikeAPIGateway(t *testing.T) {
	h := http.Header{}
	applyHeaders(h,
		map[string]string{"X-A": "1", "X-B": "same", "Connection": "close", "Transfer-Encoding": "chunked", "Content-Length": "9", "Bad Name": "x"},
		map[string][]string{"x-b": {"same", "other"}, "Keep-Alive": {"timeout=5"}},
		[]string{"s=1", "t=2"})
	want := http.Header{
		"X-A":        {"1"},
		"X-B":        {"same", "other"},
		"Set-Cookie": {"s=1", "t=2"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestTrailerError(t *testing.T) {
	tr := http.Header{}
	tr.Set(hdrErrorType, "errorString")
	// base64 of {"errorMessage":"boom","errorType":"errorString"}
	tr.Set(hdrErrorBody, "eyJlcnJvck1lc3NhZ2UiOiJib29tIiwiZXJyb3JUeXBlIjoiZXJyb3JTdHJpbmcifQ==")
	if typ, msg := trailerError(tr); typ != "errorString" || msg != "boom" {
		t.Errorf("trailerError = %q, %q", typ, msg)
	}
	if typ, _ := trailerError(http.Header{hdrErrorType: nil}); typ != "" {
		t.Errorf("declared but unset trailer read as an error: %q", typ)
	}
}

// TestRuntimeAPIRejectsUnknownRequestID exercises the Runtime API handlers
// directly, without a child process.
func TestRuntimeAPIRejectsUnknownRequestID(t *testing.T) {
	g, err := New(Config{Bootstrap: "/bin/sh"})
	if err != nil {
		t.Skipf("no /bin/sh to stand in for a bootstrap: %v", err)
	}
	sb := &sandbox{g: g, p: g.fn, readyCh: make(chan struct{}), exitCh: make(chan struct{})}
	h := sb.routes()
	for _, path := range []string{"/2018-06-01/runtime/invocation/nope/response", "/2018-06-01/runtime/invocation/nope/error"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader("{}")))
		var body struct{ ErrorType string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusBadRequest || body.ErrorType != "InvalidRequestID" {
			t.Errorf("POST %s: %d %s, want 400 InvalidRequestID", path, rec.Code, rec.Body)
		}
	}

	// A response for the current invocation is accepted once, then 403.
	inv := &invocation{id: "abc", resultCh: make(chan *result), clientDone: make(chan struct{}), failed: make(chan struct{})}
	close(inv.clientDone) // nobody waits: delivery is dropped
	sb.current = inv
	for i, want := range []int{http.StatusAccepted, http.StatusForbidden} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/2018-06-01/runtime/invocation/abc/error", strings.NewReader(`{"errorMessage":"x","errorType":"y"}`)))
		if rec.Code != want {
			t.Errorf("error post #%d: %d, want %d", i+1, rec.Code, want)
		}
	}

	// init/error marks the instance failed.
	close(sb.exitCh) // no process to kill
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/2018-06-01/runtime/init/error", strings.NewReader(`{"errorMessage":"bad config","errorType":"ConfigError"}`))
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Errorf("init/error: %d", rec.Code)
	}
	if err := sb.initFailure(); err == nil || !strings.Contains(err.Error(), "ConfigError: bad config") {
		t.Errorf("initFailure() = %v", err)
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "arn:aws:execute-api:us-east-1:1:api/stage/GET/a/b", true},
		{"arn:aws:execute-api:us-east-1:1:api/stage/*/*", "arn:aws:execute-api:us-east-1:1:api/stage/GET/a/b", true},
		{"arn:aws:execute-api:us-east-1:1:api/stage/*/*", "arn:aws:execute-api:us-east-1:1:api/other/GET/a", false},
		{"arn:aws:execute-api:us-east-1:1:api/stage/GET/a", "arn:aws:execute-api:us-east-1:1:api/stage/GET/a", true},
		{"arn:aws:execute-api:us-east-1:1:api/stage/GET/a", "arn:aws:execute-api:us-east-1:1:api/stage/GET/ab", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"GET/A", "GET/a", false}, // resources are case-sensitive
	} {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestPolicyDecision(t *testing.T) {
	const arn = "arn:aws:execute-api:us-east-1:123456789012:local/local/POST/stream"
	for _, tc := range []struct {
		name, policy string
		want         policyDecision
	}{
		{"allow, action as a string, statement as an object",
			`{"Version":"2012-10-17","Statement":{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:123456789012:local/local/*/*"}}`, allowed},
		{"allow, action wildcard and lists",
			`{"Statement":[{"Action":["execute-api:*"],"Effect":"Allow","Resource":["*"]}]}`, allowed},
		{"action case does not matter",
			`{"Statement":[{"Action":"EXECUTE-API:invoke","Effect":"Allow","Resource":"*"}]}`, allowed},
		{"deny wins over allow",
			`{"Statement":[{"Action":"*","Effect":"Allow","Resource":"*"},{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"` + arn + `"}]}`, explicitDeny},
		{"another resource: implicit deny",
			`{"Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:123456789012:local/local/GET/stream"}]}`, implicitDeny},
		{"another action: implicit deny",
			`{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"*"}]}`, implicitDeny},
		{"no statements", `{"Statement":[]}`, implicitDeny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := parseAuthorizerOutput([]byte(`{"principalId":"p","policyDocument":` + tc.policy + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := out.decide(arn); got != tc.want {
				t.Errorf("decide = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseAuthorizerOutput(t *testing.T) {
	out, err := parseAuthorizerOutput([]byte(`{"principalId":"u1","policyDocument":{"Statement":[]},` +
		`"context":{"s":"v","n":12.50,"b":false,"z":null},"usageIdentifierKey":"key1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if out.principalID != "u1" || out.usageKey != "key1" {
		t.Errorf("principal %q key %q", out.principalID, out.usageKey)
	}
	if diff := cmp.Diff(map[string]string{"s": "v", "n": "12.50", "b": "false", "z": ""}, out.context); diff != "" {
		t.Errorf("context (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		`not json`,
		`{"principalId":"u1"}`,
		`{"policyDocument":{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}}`,
		`{"policyDocument":{"Statement":[]},"context":{"o":{"a":1}}}`,
		`{"policyDocument":{"Statement":[]},"context":{"l":[1]}}`,
		`{"policyDocument":{"Statement":[{"Effect":"Allow","Action":5,"Resource":"*"}]}}`,
	} {
		if _, err := parseAuthorizerOutput([]byte(bad)); err == nil {
			t.Errorf("%s: accepted, want an invalid-output error", bad)
		}
	}
}

func TestRoutePatterns(t *testing.T) {
	req, err := RoutePatterns([]string{"POST /stream", "any /v1/*", "DELETE /stream/*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/stream", true},
		{"GET", "/stream", false},
		{"POST", "/stream/x", false},
		{"GET", "/v1/models", true},
		{"OPTIONS", "/v1/chat/completions", true},
		{"GET", "/v1", false},
		{"DELETE", "/stream/abc", true},
	} {
		if got := req(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
	for _, bad := range [][]string{{"/stream"}, {"POST stream"}, {"POST /a*b"}, {}} {
		if _, err := RoutePatterns(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/", false}, {"GET", "/healthz", false}, {"OPTIONS", "/stream", false},
		{"POST", "/stream", true}, {"GET", "/v1/models", true}, {"POST", "/", true}, {"DELETE", "/stream/x", true},
	} {
		if got := DefaultRequires(tc.method, tc.path); got != tc.want {
			t.Errorf("DefaultRequires(%s %s) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}
