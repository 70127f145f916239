package streaming

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoCancelStore is the CancelStore of a deployed stack: a DynamoDB
// table (partition key "id", TTL attribute "expiresAt") that the stack
// creates. A cancel is one PutItem; a running stream does one GetItem a
// CANCEL_POLL_SECONDS, an eventually consistent read (half a read unit).
type DynamoCancelStore struct {
	client *dynamodb.Client
	table  string
	ttl    time.Duration
}

// cancelItemTTL is how long a cancel is kept: longer than any stream
// (API Gateway ends one after 15 minutes at most).
const cancelItemTTL = time.Hour

// NewDynamoCancelStore returns the store on table.
func NewDynamoCancelStore(client *dynamodb.Client, table string) *DynamoCancelStore {
	return &DynamoCancelStore{client: client, table: table, ttl: cancelItemTTL}
}

// Request implements CancelStore.
func (s *DynamoCancelStore) Request(ctx context.Context, key string) error {
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			"id":        &types.AttributeValueMemberS{Value: key},
			"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(s.ttl).Unix(), 10)},
		},
	})
	if err != nil {
		return fmt.Errorf("recording the cancel in %s: %w", s.table, err)
	}
	return nil
}

// Requested implements CancelStore.
func (s *DynamoCancelStore) Requested(ctx context.Context, key string) (bool, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(s.table),
		Key:                  map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}},
		ProjectionExpression: aws.String("id"),
	})
	if err != nil {
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
// (one read unit) and one UpdateItem (one write unit).
type DynamoBudgetStore struct {
	client *dynamodb.Client
	table  string
}

// budgetItemTTL keeps a day's counter a little past its day.
const budgetItemTTL = 48 * time.Hour

// NewDynamoBudgetStore returns the store on table.
func NewDynamoBudgetStore(client *dynamodb.Client, table string) *DynamoBudgetStore {
	return &DynamoBudgetStore{client: client, table: table}
}

// Spent implements BudgetStore.
func (s *DynamoBudgetStore) Spent(ctx context.Context, keyHash, day string) (spent, limit int64, err error) {
	type result struct {
		n   int64
		ok  bool
		err error
	}
	get := func(id, attr string) result {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:            aws.String(s.table),
			Key:                  map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
			ProjectionExpression: aws.String(attr),
		})
		if err != nil {
			return result{err: fmt.Errorf("reading %s in %s: %w", attr, s.table, err)}
		}
		n, ok := out.Item[attr].(*types.AttributeValueMemberN)
		if !ok {
			return result{}
		}
		v, err := strconv.ParseInt(n.Value, 10, 64)
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
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: keyHash + "#" + day}},
		UpdateExpression: aws.String("ADD tokens :n SET expiresAt = if_not_exists(expiresAt, :expires)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n":       &types.AttributeValueMemberN{Value: strconv.FormatInt(tokens, 10)},
			":expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(end.Add(budgetItemTTL).Unix(), 10)},
		},
	})
	if err != nil {
		return fmt.Errorf("adding %d tokens in %s: %w", tokens, s.table, err)
	}
	return nil
}
