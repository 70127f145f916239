package streaming

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// DynamoCancelStore is the CancelStore of a deployed stack: a DynamoDB
// table (partition key "id", TTL attribute "expiresAt") that the stack
// creates. A cancel is one PutItem; a running stream does one GetItem a
// CANCEL_POLL_SECONDS, an eventually consistent read (half a read unit).
//
// It calls DynamoDB's JSON API itself, signed with the SDK's SigV4 signer,
// rather than through the SDK's DynamoDB client: that client's packages
// (its schemas of the whole DynamoDB API and its endpoint tables) were the
// costliest package initialisation of the Lambda bootstrap, 3 ms and
// about 650 KiB of heap before main ran at every cold start (GODEBUG=
// inittrace=1, scripts/bench section 3), for two operations. The tests
// run it against moto's DynamoDB and read what it wrote with the SDK's
// client.
type DynamoCancelStore struct {
	db    *dynamoClient
	table string
	ttl   time.Duration
}

// DynamoConfig is where and as whom a DynamoCancelStore calls DynamoDB.
type DynamoConfig struct {
	Region      string
	Endpoint    string // "" → DynamoDB's regional endpoint
	Credentials aws.CredentialsProvider
	HTTPClient  *http.Client // nil → one with a 30 s timeout a call
}

// cancelItemTTL is how long a cancel is kept: longer than any stream
// (API Gateway ends one after 15 minutes at most).
const cancelItemTTL = time.Hour

// NewDynamoCancelStore returns the store on table.
func NewDynamoCancelStore(c DynamoConfig, table string) *DynamoCancelStore {
	return &DynamoCancelStore{db: newDynamoClient(c), table: table, ttl: cancelItemTTL}
}

// dynamoString and dynamoNumber are DynamoDB's S and N attribute values.
type (
	dynamoString struct {
		S string `json:"S"`
	}
	dynamoNumber struct {
		N string `json:"N"`
	}
)

// Request implements CancelStore.
func (s *DynamoCancelStore) Request(ctx context.Context, key string) error {
	in := struct {
		TableName string `json:"TableName"`
		Item      struct {
			ID        dynamoString `json:"id"`
			ExpiresAt dynamoNumber `json:"expiresAt"`
		} `json:"Item"`
	}{TableName: s.table}
	in.Item.ID.S = key
	in.Item.ExpiresAt.N = strconv.FormatInt(time.Now().Add(s.ttl).Unix(), 10)
	if err := s.db.call(ctx, "PutItem", in, nil); err != nil {
		return fmt.Errorf("recording the cancel in %s: %w", s.table, err)
	}
	return nil
}

// Requested implements CancelStore.
func (s *DynamoCancelStore) Requested(ctx context.Context, key string) (bool, error) {
	in := struct {
		TableName string `json:"TableName"`
		Key       struct {
			ID dynamoString `json:"id"`
		} `json:"Key"`
		ProjectionExpression string `json:"ProjectionExpression"`
	}{TableName: s.table, ProjectionExpression: "id"}
	in.Key.ID.S = key
	var out struct {
		Item map[string]json.RawMessage `json:"Item"`
	}
	if err := s.db.call(ctx, "GetItem", in, &out); err != nil {
		return false, fmt.Errorf("looking for a cancel in %s: %w", s.table, err)
	}
	return len(out.Item) > 0, nil
}

// DynamoBudgetStore is the BudgetStore of a deployed stack: a DynamoDB
// table (partition key "id", TTL attribute "expiresAt") shared by every
// instance. A key's day is one item, "<keyHash>#<YYYY-MM-DD>", whose
// "tokens" grow by an atomic ADD; a key's own budget is the item
// "<keyHash>#limit" with a number "dailyTokens", which an operator writes
// (scripts/budget). A request costs two eventually consistent GetItems
// (one read unit) and one UpdateItem (one write unit). It calls DynamoDB
// as DynamoCancelStore does.
type DynamoBudgetStore struct {
	db    *dynamoClient
	table string
}

// budgetItemTTL keeps a day's counter a little past its day.
const budgetItemTTL = 48 * time.Hour

// NewDynamoBudgetStore returns the store on table.
func NewDynamoBudgetStore(c DynamoConfig, table string) *DynamoBudgetStore {
	return &DynamoBudgetStore{db: newDynamoClient(c), table: table}
}

// Spent implements BudgetStore.
func (s *DynamoBudgetStore) Spent(ctx context.Context, keyHash, day string) (spent, limit int64, err error) {
	type result struct {
		n   int64
		ok  bool
		err error
	}
	get := func(id, attr string) result {
		in := struct {
			TableName string `json:"TableName"`
			Key       struct {
				ID dynamoString `json:"id"`
			} `json:"Key"`
			ProjectionExpression string `json:"ProjectionExpression"`
		}{TableName: s.table, ProjectionExpression: attr}
		in.Key.ID.S = id
		var out struct {
			Item map[string]struct {
				N *string `json:"N"`
			} `json:"Item"`
		}
		if err := s.db.call(ctx, "GetItem", in, &out); err != nil {
			return result{err: fmt.Errorf("reading %s in %s: %w", attr, s.table, err)}
		}
		n := out.Item[attr].N
		if n == nil {
			return result{}
		}
		v, err := strconv.ParseInt(*n, 10, 64)
		if err != nil {
			return result{err: fmt.Errorf("%s in %s is not a whole number: %w", attr, s.table, err)}
		}
		return result{n: v, ok: true}
	}
	limitCh := make(chan result, 1)
	go func() { limitCh <- get(keyHash+"#limit", "dailyTokens") }()
	used := get(keyHash+"#"+day, "tokens")
	own := <-limitCh
	if err := errors.Join(used.err, own.err); err != nil {
		return 0, 0, err
	}
	limit = -1
	if own.ok {
		limit = own.n
	}
	return used.n, limit, nil
}

// Add implements BudgetStore.
func (s *DynamoBudgetStore) Add(ctx context.Context, keyHash, day string, tokens int64) error {
	end, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return fmt.Errorf("budget day %q: %w", day, err)
	}
	in := struct {
		TableName string `json:"TableName"`
		Key       struct {
			ID dynamoString `json:"id"`
		} `json:"Key"`
		UpdateExpression          string                  `json:"UpdateExpression"`
		ExpressionAttributeValues map[string]dynamoNumber `json:"ExpressionAttributeValues"`
	}{
		TableName:        s.table,
		UpdateExpression: "ADD tokens :n SET expiresAt = if_not_exists(expiresAt, :expires)",
		ExpressionAttributeValues: map[string]dynamoNumber{
			":n":       {N: strconv.FormatInt(tokens, 10)},
			":expires": {N: strconv.FormatInt(end.Add(budgetItemTTL).Unix(), 10)},
		},
	}
	in.Key.ID.S = keyHash + "#" + day
	if err := s.db.call(ctx, "UpdateItem", in, nil); err != nil {
		return fmt.Errorf("adding %d tokens in %s: %w", tokens, s.table, err)
	}
	return nil
}

// dynamoClient calls DynamoDB's JSON 1.0 API: a POST to its endpoint with
// the operation in X-Amz-Target.
type dynamoClient struct {
	endpoint string
	aws      *signedClient
}

func newDynamoClient(c DynamoConfig) *dynamoClient {
	d := &dynamoClient{endpoint: strings.TrimRight(c.Endpoint, "/"), aws: newSignedClient("dynamodb", c.Region, c.Credentials, c.HTTPClient)}
	if d.endpoint == "" {
		d.endpoint = "https://dynamodb." + c.Region + awsDomain(c.Region)
	}
	return d
}

// awsDomain is the DNS suffix of AWS's endpoints in region.
func awsDomain(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return ".amazonaws.com.cn"
	}
	return ".amazonaws.com"
}

// call runs operation with in as its JSON body and decodes the answer
// into out (nil: the answer is dropped), retrying what may succeed later.
func (d *dynamoClient) call(ctx context.Context, operation string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	var answer []byte
	err = withRetries(ctx, func() (err error) {
		answer, err = d.once(ctx, operation, body, payloadHash)
		return err
	}, retryableAnswer)
	if err != nil {
		return fmt.Errorf("DynamoDB %s: %w", operation, err)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("DynamoDB %s: reading the answer: %w", operation, err)
		}
	}
	return nil
}

// once makes one attempt at a call.
func (d *dynamoClient) once(ctx context.Context, operation string, body []byte, payloadHash string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+operation)
	resp, answer, err := d.aws.do(ctx, req, payloadHash)
	if err != nil {
		return nil, err
	}
	// DynamoDB sends the CRC32 of its answer; a mismatch is a damaged
	// answer, tried again as the SDK does.
	if v := resp.Header.Get("X-Amz-Crc32"); v != "" {
		if want, perr := strconv.ParseUint(v, 10, 32); perr == nil && uint32(want) != crc32.ChecksumIEEE(answer) {
			return nil, fmt.Errorf("the answer's CRC32 does not match X-Amz-Crc32")
		}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, dynamoErrorOf(resp.StatusCode, answer)
	}
	return answer, nil
}

// dynamoErrorOf reads an error answer:
// {"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"..."}
func dynamoErrorOf(status int, answer []byte) *awsAPIError {
	var body struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	_ = json.Unmarshal(answer, &body)
	e := &awsAPIError{Service: "DynamoDB", Status: status, Code: body.Type, Message: body.Message}
	if i := strings.LastIndexByte(e.Code, '#'); i >= 0 {
		e.Code = e.Code[i+1:]
	}
	if e.Message == "" {
		e.Message = body.Message2
	}
	return e.withDefaults()
}
