package streaming

import (
	"context"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/streamgate/streamgate/streaming/streamtest"
)

// motoDynamo is the store's configuration for moto at endpoint.
func motoDynamo(endpoint string) DynamoConfig {
	return DynamoConfig{Region: "us-east-1", Endpoint: endpoint, Credentials: credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", "")}
}

// TestDynamoCancelStoreOnMoto: against a real DynamoDB API (moto), a cancel
// is an item the SDK's own client reads back (id, and expiresAt an hour
// ahead as a number), Requested finds it and no other key, and a missing
// table is DynamoDB's ResourceNotFoundException.
func TestDynamoCancelStoreOnMoto(t *testing.T) {
	t.Parallel()
	moto := streamtest.Moto(t)
	db, err := streamtest.CreateCancelTable(t.Context(), moto)
	if err != nil {
		t.Fatal(err)
	}
	store := NewDynamoCancelStore(motoDynamo(moto), streamtest.CancelTable)
	ctx := t.Context()
	if got, err := store.Requested(ctx, "req-1|hash"); err != nil || got {
		t.Fatalf("Requested before any cancel = %v, %v; want false, nil", got, err)
	}
	before := time.Now()
	if err := store.Request(ctx, "req-1|hash"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"req-1|hash": true, "req-1|other": false, "req-2|hash": false} {
		if got, err := store.Requested(ctx, key); err != nil || got != want {
			t.Errorf("Requested(%q) = %v, %v; want %v", key, got, err, want)
		}
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(streamtest.CancelTable),
		Key:       map[string]dbtypes.AttributeValue{"id": &dbtypes.AttributeValueMemberS{Value: "req-1|hash"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := out.Item["id"].(*dbtypes.AttributeValueMemberS)
	exp, _ := out.Item["expiresAt"].(*dbtypes.AttributeValueMemberN)
	if id == nil || id.Value != "req-1|hash" || exp == nil {
		t.Fatalf("item as the SDK reads it = %#v; want id and a number expiresAt", out.Item)
	}
	if at, err := strconv.ParseInt(exp.Value, 10, 64); err != nil || at < before.Add(cancelItemTTL).Unix()-1 || at > time.Now().Add(cancelItemTTL).Unix()+1 {
		t.Errorf("expiresAt = %s, want about an hour from now", exp.Value)
	}

	missing := NewDynamoCancelStore(motoDynamo(moto), "no-such-table")
	_, err = missing.Requested(ctx, "x")
	var de *awsAPIError
	if !errors.As(err, &de) || de.Code != "ResourceNotFoundException" || de.Status != http.StatusBadRequest {
		t.Errorf("a missing table: %v; want DynamoDB's ResourceNotFoundException, HTTP 400", err)
	}
}

// TestDynamoClientRetries: what may succeed later (DynamoDB's 5xx,
// throttling, a damaged answer, a cut connection) is tried again, up to 3
// times in all; what will not (a validation error) is not. Every attempt
// is signed for dynamodb in the store's region and names its operation.
func TestDynamoClientRetries(t *testing.T) {
	t.Parallel()
	const itemAnswer = `{"Item":{"id":{"S":"k"}}}`
	throttled := `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}`
	invalid := `{"__type":"com.amazon.coral.validate#ValidationException","message":"bad key"}`
	type reply struct {
		status int
		body   string
		badCRC bool
		cut    bool
	}
	ok := reply{status: 200, body: itemAnswer}
	cases := []struct {
		name      string
		replies   []reply
		wantCalls int
		wantErr   string // "" = Requested is true
	}{
		{"first time", []reply{ok}, 1, ""},
		{"500 then ok", []reply{{status: 500, body: `{"__type":"InternalServerError","message":"oops"}`}, ok}, 2, ""},
		{"throttled twice then ok", []reply{{status: 400, body: throttled}, {status: 400, body: throttled}, ok}, 3, ""},
		{"damaged answer then ok", []reply{{status: 200, body: itemAnswer, badCRC: true}, ok}, 2, ""},
		{"cut connection then ok", []reply{{cut: true}, ok}, 2, ""},
		{"throttled three times", []reply{{status: 400, body: throttled}, {status: 400, body: throttled}, {status: 400, body: throttled}}, 3, "ThrottlingException: slow down (HTTP 400)"},
		{"validation error", []reply{{status: 400, body: invalid}}, 1, "ValidationException: bad key (HTTP 400)"},
		{"unreadable error", []reply{{status: 403, body: "<html>"}}, 1, "Forbidden: no message (HTTP 403)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				i := calls
				calls++
				mu.Unlock()
				auth := r.Header.Get("Authorization")
				if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.GetItem" ||
					r.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
					!strings.Contains(auth, "/eu-west-1/dynamodb/aws4_request") || !strings.Contains(auth, "AKIDTEST") ||
					!strings.Contains(string(body), `"TableName":"t"`) || !strings.Contains(string(body), `"Key":{"id":{"S":"k"}}`) {
					t.Errorf("attempt %d: %s %s, target %q, auth %q, body %s", i+1, r.Method, r.URL, r.Header.Get("X-Amz-Target"), auth, body)
				}
				if i >= len(tc.replies) {
					t.Errorf("attempt %d: more attempts than the test expects", i+1)
					w.WriteHeader(http.StatusTeapot)
					return
				}
				rep := tc.replies[i]
				if rep.cut {
					hj, _ := w.(http.Hijacker)
					conn, _, _ := hj.Hijack()
					conn.Close()
					return
				}
				sum := crc32.ChecksumIEEE([]byte(rep.body))
				if rep.badCRC {
					sum++
				}
				w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(sum), 10))
				w.WriteHeader(rep.status)
				io.WriteString(w, rep.body)
			}))
			defer srv.Close()
			store := NewDynamoCancelStore(DynamoConfig{Region: "eu-west-1", Endpoint: srv.URL,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "token")}, "t")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			got, err := store.Requested(ctx, "k")
			switch {
			case tc.wantErr == "" && (err != nil || !got):
				t.Errorf("Requested = %v, %v; want true", got, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Requested = %v, %v; want an error with %q", got, err, tc.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != tc.wantCalls {
				t.Errorf("%d attempts, want %d", calls, tc.wantCalls)
			}
		})
	}
}

// TestDynamoEndpoint: without an endpoint, the region's own.
func TestDynamoEndpoint(t *testing.T) {
	t.Parallel()
	for region, want := range map[string]string{
		"us-east-1":  "https://dynamodb.us-east-1.amazonaws.com",
		"cn-north-1": "https://dynamodb.cn-north-1.amazonaws.com.cn",
	} {
		if got := newDynamoClient(DynamoConfig{Region: region}).endpoint; got != want {
			t.Errorf("%s: endpoint %q, want %q", region, got, want)
		}
	}
	if got := newDynamoClient(DynamoConfig{Region: "us-east-1", Endpoint: "http://127.0.0.1:5000/"}).endpoint; got != "http://127.0.0.1:5000" {
		t.Errorf("explicit endpoint: %q", got)
	}
}
