// Command coldfloor is the cold-start floor of scripts/bench (section 3):
// the smallest aws-lambda-go function that streams an API Gateway answer.
// lambda.Start with a handler that returns an
// *events.APIGatewayProxyStreamingResponse whose body is two bytes. The
// bootstrap's cold start is measured against it in the same run: what
// the Go runtime and aws-lambda-go cost before any code of ours runs.
//
//	go build -tags lambda.norpc -o /tmp/coldfloor ./scripts/benchmark/coldfloor
package main

import (
	"context"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, *events.APIGatewayProxyRequest) (*events.APIGatewayProxyStreamingResponse, error) {
		return &events.APIGatewayProxyStreamingResponse{StatusCode: 200, Body: strings.NewReader("ok")}, nil
	})
}
