package main

import (
	"bufio"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// cancelTableEnv starts a DynamoDB API (moto), creates the cancel table
// the stack would create, and returns the function's environment for it.
func cancelTableEnv(t *testing.T) []string {
	t.Helper()
	endpoint := streamtest.Moto(t)
	if _, err := streamtest.CreateCancelTable(t.Context(), endpoint); err != nil {
		t.Fatal(err)
	}
	table := streamtest.CancelTable
	return []string{"CANCEL_TABLE=" + table, "DYNAMODB_ENDPOINT=" + endpoint, "CANCEL_POLL_SECONDS=0.5"}
}

// TestCancelAcrossLambdaInstances (issue 9): through localgw with two
// instances and Lambda's real disconnect model (the function is never told
// that its client left), a stream running on one instance is stopped by a
// DELETE that lands on the other, through the cancel table: the client sees
// the cancelled end, and Bedrock sees its request cancelled within 2 s of
// the DELETE.
func TestCancelAcrossLambdaInstances(t *testing.T) {
	t.Parallel()
	lp := startLambdaPath(t, emulator.Options{TokensPerSecond: 50}, localgw.Config{Instances: 2}, cancelTableEnv(t)...)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, lp.url+"/stream",
		strings.NewReader(`{"prompt":"tell me everything","modelId":"emulator.long-v1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	body := bufio.NewReader(resp.Body)
	for deltas := 0; deltas < 5; {
		line, err := body.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended early: %v", err)
		}
		if line == "event: delta\n" {
			deltas++
		}
	}

	// The instance that runs the stream is busy: localgw gives the
	// DELETE to the other one, which has never seen this request.
	deleted := time.Now()
	del, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, lp.url+"/stream/"+id, nil)
	res := streamtest.Do(t, del)
	if res.Status != http.StatusAccepted || !strings.Contains(string(res.Body), `"status":"requested"`) {
		t.Fatalf("DELETE: %d %s; want 202 requested (left in the cancel table)", res.Status, res.Body)
	}
	rest := make([]byte, 0, 64<<10)
	for {
		line, err := body.ReadString('\n')
		rest = append(rest, line...)
		if err != nil {
			break
		}
	}
	if !strings.Contains(string(rest), "event: done\ndata: {\"stopReason\":\"cancelled\"") {
		t.Errorf("the stream did not end as cancelled: …%s", tail(string(rest), 300))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := lp.emu.WaitIdle(ctx); err != nil {
		t.Fatal("the Bedrock call still runs 15 s after the DELETE")
	}
	records := lp.emu.Records()
	r := records[len(records)-1]
	if r.Outcome != "cancelled" || r.End.Sub(deleted) > 2*time.Second {
		t.Errorf("Bedrock call %+v ended %v after the DELETE; want cancelled within 2 s", r, r.End.Sub(deleted))
	}
	t.Logf("Bedrock request cancelled %v after the DELETE (poll every 0.5 s)", r.End.Sub(deleted))
	lp.logs.WaitFor(t, regexp.MustCompile(regexp.QuoteMeta(`"requestId":"`+id+`"`)+`.*"cancelled":true`), 5*time.Second)
}

// TestChatPageStopThroughLocalgw (issue 9 and 12): the chat page's Stop
// button stops emulator.long-v1 on the Lambda path, where closing the
// connection would not reach the function: its DELETE goes through the
// cancel table to the instance that runs the stream.
func TestChatPageStopThroughLocalgw(t *testing.T) {
	t.Parallel()
	lp := startLambdaPath(t, emulator.Options{LongDuration: 60 * time.Second}, localgw.Config{Instances: 2}, cancelTableEnv(t)...)
	ctx, browser := newBrowser(t, 3*time.Minute)
	openChat(t, ctx, lp.url, "emulator.long-v1")
	stopLongAnswer(t, ctx, browser, lp.emu, 1, "the Stop button", chromedp.Click(chromedp.CSS(`#stop`)))
	browser.checkClean(t)
}
