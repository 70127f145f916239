package streaming

import (
	"context"
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
