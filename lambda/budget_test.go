package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestBudgetsAcrossLambdaInstances (issue 22): two Lambda paths (the real
// bootstrap under two localgw gateways) share the budget table in
// DynamoDB (moto). With DAILY_TOKEN_BUDGET=50, key A's first two answers
// of 30 tokens, one on each, use its budget, and its third is refused on
// either; key B is still served. An override item written with
// scripts/budget, as the README says, raises key A's budget, and
// scripts/budget show reports what it spent.
func TestBudgetsAcrossLambdaInstances(t *testing.T) {
	t.Parallel()
	endpoint := streamtest.Moto(t)
	if _, err := streamtest.CreateTable(t.Context(), endpoint, streamtest.BudgetTable); err != nil {
		t.Fatal(err)
	}
	const keyA, keyB = "key-aaaaaaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbbbbbb"
	env := []string{"API_KEYS=" + keyA + "," + keyB, "DAILY_TOKEN_BUDGET=50",
		"BUDGET_TABLE=" + streamtest.BudgetTable, "DYNAMODB_ENDPOINT=" + endpoint}
	one := startLambdaPath(t, emulator.Options{}, localgw.Config{}, env...)
	two := startLambdaPath(t, emulator.Options{}, localgw.Config{}, env...)

	ask := func(url, key string) streamtest.Result {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/stream",
			strings.NewReader(`{"prompt":"count my tokens","modelId":"emulator.fast-v1","maxTokens":27}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-api-key", key)
		return streamtest.Do(t, req)
	}
	for i, step := range []struct {
		url, key string
		want     int
	}{
		{one.url, keyA, 200}, {two.url, keyA, 200}, {one.url, keyA, 429}, {two.url, keyA, 429}, {two.url, keyB, 200},
	} {
		res := ask(step.url, step.key)
		if res.Status != step.want {
			t.Fatalf("step %d: %d %s; want %d", i+1, res.Status, res.Body, step.want)
		}
		if step.want == 429 {
			if e := streamtest.DecodeJSON[struct{ Error streaming.Error }](t, string(res.Body)).Error; e.Code != streaming.CodeBudgetExceeded || res.Header.Get("Retry-After") == "" {
				t.Errorf("step %d: %s, Retry-After %q; want budget_exceeded with Retry-After", i+1, res.Body, res.Header.Get("Retry-After"))
			}
		}
	}

	budget := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join("..", "scripts", "budget"), args...)
		cmd.Env = append(os.Environ(), "BUDGET_TABLE="+streamtest.BudgetTable, "DYNAMODB_ENDPOINT="+endpoint,
			"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDMOTO", "AWS_SECRET_ACCESS_KEY=moto-secret")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("scripts/budget %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}
	if out := budget("show", keyA); !strings.Contains(out, "spent 60 tokens") || !strings.Contains(out, "DAILY_TOKEN_BUDGET") {
		t.Errorf("scripts/budget show: %q; want 60 tokens spent on the default budget", out)
	}
	budget("set", keyA, "1000")
	if res := ask(one.url, keyA); res.Status != http.StatusOK {
		t.Errorf("after scripts/budget set: %d %s; want key A served", res.Status, res.Body)
	}
	if out := budget("show", keyA); !strings.Contains(out, "spent 90 tokens") || !strings.Contains(out, "daily budget: 1000") {
		t.Errorf("scripts/budget show: %q; want 90 tokens spent of 1000", out)
	}
	if strings.Contains(one.logs.String()+two.logs.String(), keyA) {
		t.Error("an API key appears in the function's logs")
	}
}
