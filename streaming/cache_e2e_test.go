package streaming_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestPromptCacheInEveryDialect (issue 22): with PROMPT_CACHE=auto the
// gateway puts a cache point after the system prompt, so the second of
// two calls with the same long system prompt reads it from the cache, and
// each dialect reports it in its own usage: /stream's done event, OpenAI's
// prompt_tokens_details.cached_tokens and input_tokens_details, and
// Anthropic's cache_read_input_tokens. The first call writes what the
// second reads.
func TestPromptCacheInEveryDialect(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PromptCache = "auto"
	gw := newTestGateway(t, emulator.Options{}, cfg, nil)
	long := func(who string) string {
		return who + " " + strings.Repeat("You are a careful assistant who answers in plain words. ", 40)
	}
	post := func(path, body string, header http.Header) streamtest.Result {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gw.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header[k] = v
		}
		res := streamtest.Do(t, req)
		if res.Status != http.StatusOK || res.ReadErr != nil {
			t.Fatalf("%s: %d %v %s", path, res.Status, res.ReadErr, res.Body)
		}
		return res
	}
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }

	tests := []struct {
		dialect string
		call    func(system string) (read, write int)
	}{
		{"native", func(system string) (int, int) {
			res := post("/stream", `{"prompt":"hi","modelId":"emulator.fast-v1","system":`+quote(system)+`}`, http.Header{"Accept": {"text/event-stream"}})
			events := streamtest.ParseSSE(t, res.Chunks)
			var done struct {
				Usage struct{ CacheReadInputTokens, CacheWriteInputTokens int }
			}
			json.Unmarshal([]byte(events[len(events)-1].Data), &done)
			return done.Usage.CacheReadInputTokens, done.Usage.CacheWriteInputTokens
		}},
		{"openai chat", func(system string) (int, int) {
			res := post("/v1/chat/completions", `{"model":"emulator.fast-v1","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":`+quote(system)+`},{"role":"user","content":"hi"}]}`, nil)
			var usage struct {
				PromptTokensDetails struct {
					CachedTokens int `json:"cached_tokens"`
				} `json:"prompt_tokens_details"`
			}
			for _, ev := range streamtest.ParseSSE(t, res.Chunks) {
				var chunk struct{ Usage *json.RawMessage }
				if json.Unmarshal([]byte(ev.Data), &chunk) == nil && chunk.Usage != nil {
					json.Unmarshal(*chunk.Usage, &usage)
				}
			}
			return usage.PromptTokensDetails.CachedTokens, -1
		}},
		{"openai responses", func(system string) (int, int) {
			res := post("/v1/responses", `{"model":"emulator.fast-v1","instructions":`+quote(system)+`,"input":"hi"}`, nil)
			var resp struct {
				Usage struct {
					InputTokensDetails struct {
						CachedTokens int `json:"cached_tokens"`
					} `json:"input_tokens_details"`
				}
			}
			json.Unmarshal(res.Body, &resp)
			return resp.Usage.InputTokensDetails.CachedTokens, -1
		}},
		{"anthropic", func(system string) (int, int) {
			res := post("/v1/messages", `{"model":"emulator.fast-v1","max_tokens":50,"system":`+quote(system)+`,"messages":[{"role":"user","content":"hi"}]}`,
				http.Header{"Anthropic-Version": {"2023-06-01"}})
			var msg struct {
				Usage struct {
					CacheRead  int `json:"cache_read_input_tokens"`
					CacheWrite int `json:"cache_creation_input_tokens"`
				}
			}
			json.Unmarshal(res.Body, &msg)
			return msg.Usage.CacheRead, msg.Usage.CacheWrite
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dialect, func(t *testing.T) {
			system := long(tt.dialect)
			read1, write1 := tt.call(system)
			read2, write2 := tt.call(system)
			if read1 != 0 || read2 <= 400 || write1 == 0 || write2 > 0 {
				t.Errorf("cache reads %d then %d, writes %d then %d; want the second call to read the ~480-token system prompt the first wrote", read1, read2, write1, write2)
			}
			if write1 > 0 && read2 != write1 {
				t.Errorf("the second call read %d tokens, the first wrote %d", read2, write1)
			}
		})
	}
	var withCache int
	for _, line := range logLines(t, gw.Logs) {
		if n, _ := line["cacheReadInputTokens"].(float64); n > 400 {
			withCache++
		}
	}
	if withCache != len(tests) {
		t.Errorf("%d log lines report cache reads, want %d (one a dialect)", withCache, len(tests))
	}

	// Off: the same calls never touch the cache.
	plain := newTestGateway(t, emulator.Options{}, testConfig(), nil)
	for range 2 {
		res := streamtest.Post(t, t.Context(), plain.URL+"/stream", "text/event-stream", `{"prompt":"hi","modelId":"emulator.fast-v1","system":`+quote(long("off"))+`}`)
		if body := string(res.Body); !strings.Contains(body, `"cacheReadInputTokens":0,"cacheWriteInputTokens":0`) {
			t.Errorf("PROMPT_CACHE off: %s; want no cache reads or writes", body[max(0, len(body)-300):])
		}
	}
}
