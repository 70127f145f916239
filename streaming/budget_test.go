package streaming_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gateway"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

const (
	keyA = "key-aaaaaaaaaaaaaaaaaaaa"
	keyB = "key-bbbbbbbbbbbbbbbbbbbb"
)

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// post sends a JSON body with an API key and reads the whole answer.
func post(t *testing.T, url, key, accept, body string) streamtest.Result {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return streamtest.Do(t, req)
}

// budgetGateway is the whole gateway with two keys, a budget of 50 tokens
// a day and the counters in store.
func budgetGateway(t *testing.T, store streaming.BudgetStore) *gatewaytest.Gateway {
	cfg := testConfig()
	cfg.APIKeys = []string{keyA, keyB}
	cfg.DailyTokenBudget = 50
	cfg.EmbeddingModelID, cfg.ImageModelID = emulator.EmbeddingModelID, emulator.ImageModelID
	emu := emulator.New(emulator.Options{})
	g := gatewaytest.To(t, emulatorURL(t, emu), streaming.Upstreams{Budgets: store}, cfg, nil, gateway.Dialects()...)
	g.Emu = emu
	return g
}

// emulatorURL serves emu on loopback for the test.
func emulatorURL(t *testing.T, emu *emulator.Emulator) string {
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return srv.URL
}

// failingStore is a budget table that cannot be reached.
type failingStore struct{}

func (failingStore) Spent(context.Context, string, string) (int64, int64, error) {
	return 0, 0, errors.New("dial tcp: connection refused")
}

func (failingStore) Add(context.Context, string, string, int64) error {
	return errors.New("dial tcp: connection refused")
}

// TestTokenBudgets (issue 22): with DAILY_TOKEN_BUDGET=50 a key's third
// 30-token answer is refused with 429 budget_exceeded, Retry-After to the
// next UTC midnight and no call to Bedrock, in the envelope of each
// dialect; the other key is still served.
func TestTokenBudgets(t *testing.T) {
	t.Parallel()
	store := streaming.NewMemoryBudgetStore()
	g := budgetGateway(t, store)
	emu := g.Emu
	// 3 input words, 27 output tokens: 30 tokens an answer.
	const answer30 = `{"prompt":"count my tokens","modelId":"emulator.fast-v1","maxTokens":27}`
	for i, want := range []int{200, 200} {
		if res := post(t, g.URL+"/stream", keyA, "", answer30); res.Status != want || res.ReadErr != nil {
			t.Fatalf("answer %d: %d %v %s", i+1, res.Status, res.ReadErr, res.Body)
		}
	}
	if spent, _, _ := store.Spent(t.Context(), keyHash(keyA), time.Now().UTC().Format(time.DateOnly)); spent != 60 {
		t.Errorf("key A spent %d tokens, want 60 (two answers of 3 input and 27 output tokens)", spent)
	}
	calls := len(gatewaytest.WaitIdle(t, emu))

	refusals := []struct {
		name, path, body string
		code             func(body []byte) string // the error code in the dialect's envelope
	}{
		{"native", "/stream", answer30, func(b []byte) string { return gatewaytest.ErrorOf(t, b).Code }},
		{"openai", "/v1/chat/completions", `{"model":"emulator.fast-v1","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			func(b []byte) string {
				var e struct{ Error struct{ Type, Code string } }
				json.Unmarshal(b, &e)
				if e.Error.Type != "rate_limit_error" {
					return "type " + e.Error.Type
				}
				return e.Error.Code
			}},
		{"embeddings", "/v1/embeddings", `{"input":"hi"}`, func(b []byte) string {
			var e struct{ Error struct{ Type, Code string } }
			json.Unmarshal(b, &e)
			return e.Error.Code
		}},
		{"images", "/v1/images/generations", `{"prompt":"a lighthouse","response_format":"b64_json"}`, func(b []byte) string {
			var e struct{ Error struct{ Type, Code string } }
			json.Unmarshal(b, &e)
			return e.Error.Code
		}},
		{"generate", "/generate", `{"input":"hi","modelId":"emulator.fast-v1"}`, func(b []byte) string {
			var e struct {
				Error   struct{ Code string }
				Message string
			}
			json.Unmarshal(b, &e)
			if e.Message == "" {
				return "no top-level message"
			}
			return e.Error.Code
		}},
	}
	for _, tt := range refusals {
		res := post(t, g.URL+tt.path, keyA, "", tt.body)
		retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		untilMidnight := time.Until(time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour))
		if res.Status != http.StatusTooManyRequests || retry < 1 || time.Duration(retry)*time.Second > untilMidnight+2*time.Second {
			t.Errorf("%s: %d Retry-After %q; want 429 with the seconds to the next UTC midnight (%v)", tt.name, res.Status, res.Header.Get("Retry-After"), untilMidnight)
		}
		if code := tt.code(res.Body); code != streaming.CodeBudgetExceeded {
			t.Errorf("%s: %s; want code %s in the dialect's envelope", tt.name, res.Body, streaming.CodeBudgetExceeded)
		}
		if !strings.Contains(string(res.Body), "resets at "+time.Now().UTC().Truncate(24*time.Hour).Add(24*time.Hour).Format(time.RFC3339)) {
			t.Errorf("%s: %s; want the reset time in the message", tt.name, res.Body)
		}
	}
	if n := len(gatewaytest.WaitIdle(t, emu)); n != calls {
		t.Errorf("refused requests reached Bedrock: %d calls, want %d", n, calls)
	}
	if res := post(t, g.URL+"/stream", keyB, "", answer30); res.Status != http.StatusOK {
		t.Errorf("key B: %d %s; want it served: budgets are per key", res.Status, res.Body)
	}

	// An override raises key A's own budget.
	store.SetLimit(keyHash(keyA), 1000)
	if res := post(t, g.URL+"/stream", keyA, "", answer30); res.Status != http.StatusOK {
		t.Errorf("key A with its own budget of 1000: %d %s", res.Status, res.Body)
	}
	line := gatewaytest.LastLog(t, g.Logs, "/stream")
	if line["tokens"] != 30.0 || line["keyId"] != keyHash(keyA)[:12] || !strings.Contains(fmt.Sprint(line["_aws"]), "keyId") {
		t.Errorf("log line %v; want tokens 30, the key's short id and a tokens metric by keyId", line)
	}
	checkEMF(t, line)
	if strings.Contains(g.Logs.String(), keyA) {
		t.Error("an API key appears in the logs")
	}
}

// TestStoppedAnswerIsCharged: an answer cancelled after some deltas (so
// Bedrock never reported its usage) is charged the deltas relayed and an
// estimate of its input.
func TestStoppedAnswerIsCharged(t *testing.T) {
	t.Parallel()
	store := streaming.NewMemoryBudgetStore()
	cfg := testConfig()
	cfg.APIKeys = []string{keyA}
	cfg.DailyTokenBudget = 1_000_000
	emu := emulator.New(emulator.Options{TokensPerSecond: 100})
	g := gatewaytest.To(t, emulatorURL(t, emu), streaming.Upstreams{Budgets: store}, cfg, nil, gateway.Dialects()...)
	auth := http.Header{"Authorization": {"Bearer " + keyA}}
	ls := openStream(t, g.URL+"/stream", `{"prompt":"tell me everything","modelId":"emulator.long-v1"}`, "text/event-stream", auth)
	time.Sleep(300 * time.Millisecond) // some deltas
	if status, body := cancelStream(t, g.URL+"/stream/"+ls.id, auth); status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", status, body)
	}
	res := ls.wait(t, 10*time.Second)
	_, at := streamtest.SSEText(t, streamtest.ParseSSE(t, res.Chunks))
	line := gatewaytest.LastLog(t, g.Logs, "/stream")
	spent, _, _ := store.Spent(t.Context(), keyHash(keyA), time.Now().UTC().Format(time.DateOnly))
	// "tell me everything": 3 words, 18 bytes, estimated as 18/4+1 = 5.
	if len(at) == 0 || spent != int64(len(at)+5) || line["tokens"] != float64(spent) {
		t.Errorf("a cancelled answer of %d deltas was charged %d tokens (log: %v); want the deltas and 5 estimated input tokens", len(at), spent, line["tokens"])
	}
}

// TestBudgetStoreUnreachable: when the budget table cannot be reached, the
// request is served (fail open) and its log line says the budget was not
// checked.
func TestBudgetStoreUnreachable(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DailyTokenBudget = 10
	emu := emulator.New(emulator.Options{})
	g := gatewaytest.To(t, emulatorURL(t, emu), streaming.Upstreams{Budgets: failingStore{}}, cfg, nil, gateway.Dialects()...)
	res := streamtest.Post(t, t.Context(), g.URL+"/stream", "", `{"prompt":"hi","modelId":"emulator.fast-v1"}`)
	if res.Status != http.StatusOK || res.ReadErr != nil {
		t.Fatalf("%d %v %s; want the answer served", res.Status, res.ReadErr, res.Body)
	}
	if line := gatewaytest.LastLog(t, g.Logs, "/stream"); line["budget"] != "unchecked, uncounted" {
		t.Errorf("log line budget = %v; want unchecked and uncounted (the check was skipped and the tokens not counted)", line["budget"])
	}
	if !strings.Contains(g.Logs.String(), "token budget store unavailable") {
		t.Errorf("no warning about the store in the logs:\n%s", g.Logs)
	}
}
