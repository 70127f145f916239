package streaming

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// eachModel calls try with c's model and, while Bedrock throttles or is
// unavailable for it, with each of its MODEL_FALLBACKS in turn, with the
// same request. try is told whether its model is the last one: the ones
// before it are tried once, without the SDK's retries and their backoff,
// since another model is waiting. It ends before any byte of an answer
// has gone to the client (a stream that fails later is never retried).
// c.ModelID is left at the model that answered, or the last one tried.
func (h *Handler) eachModel(ctx context.Context, rec *RequestLog, c *Call, try func(last bool) error) error {
	fallbacks := h.cfg.ModelFallbacks[c.ModelID]
	for i := 0; ; i++ {
		last := i == len(fallbacks)
		err := try(last)
		if err == nil || last || ctx.Err() != nil || !fallsBack(err) {
			return err
		}
		if rec.requestedModel == "" {
			rec.requestedModel = c.ModelID
		}
		rec.fallbacks++
		rec.cause = Truncate(err.Error(), 300) // why the model before was left, if the next one answers
		c.ModelID = fallbacks[i]
		rec.model = c.ModelID
	}
}

// fallsBack reports whether another model may answer what Bedrock
// refused: throttling, a service or quota limit, a model not ready.
func fallsBack(err error) bool {
	var (
		throttled   *types.ThrottlingException
		quota       *types.ServiceQuotaExceededException
		unavailable *types.ServiceUnavailableException
		notReady    *types.ModelNotReadyException
	)
	return errors.As(err, &throttled) || errors.As(err, &quota) || errors.As(err, &unavailable) || errors.As(err, &notReady)
}

// noRetries makes one call without the SDK's retries.
func noRetries(o *bedrockruntime.Options) { o.RetryMaxAttempts = 1 }

// estimateInputTokens guesses the input tokens of c from its text, one
// token for four bytes, for an answer that ended before Bedrock counted
// it (stopped, failed or cut): such an answer is charged to its key's
// budget too.
func (c *Call) estimateInputTokens() int {
	n := 0
	for _, b := range c.System {
		if t, ok := b.(*types.SystemContentBlockMemberText); ok {
			n += len(t.Value)
		}
	}
	for _, m := range c.Messages {
		for _, b := range m.Content {
			switch v := b.(type) {
			case *types.ContentBlockMemberText:
				n += len(v.Value)
			case *types.ContentBlockMemberToolResult:
				for _, rc := range v.Value.Content {
					if t, ok := rc.(*types.ToolResultContentBlockMemberText); ok {
						n += len(t.Value)
					}
				}
			}
		}
	}
	return n/4 + 1
}
