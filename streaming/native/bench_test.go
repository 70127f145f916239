package native

import "testing"

// BenchmarkReadRequest is the cost of parsing and validating a typical
// request body, once per request.
func BenchmarkReadRequest(b *testing.B) {
	cfg := testConfig()
	body := []byte(`{"messages":[{"role":"user","content":"What is response streaming?"},{"role":"assistant","content":"It sends the answer as it is made."},{"role":"user","content":"Show me with curl."}],"system":"Be brief.","maxTokens":512,"temperature":0.5}`)
	b.ReportAllocs()
	for b.Loop() {
		req, apiErr := decodeRequest(body)
		if apiErr != nil {
			b.Fatal(apiErr)
		}
		if _, apiErr := streamCall(&cfg, req); apiErr != nil {
			b.Fatal(apiErr)
		}
	}
}
