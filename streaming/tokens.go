package streaming

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// CountTokens counts the input tokens of c (its messages, system text,
// tools and additional fields, as Converse would take them) with
// Bedrock's CountTokens, under UpstreamCall's limits. CountTokens takes a
// foundation model, not an inference profile: the call names the model
// behind c.ModelID (FoundationModelID).
func (h *Handler) CountTokens(r *http.Request, c *Call) (int, *Error) {
	rec := logOf(r)
	rec.model, rec.format = c.ModelID, "count_tokens"
	var out *bedrockruntime.CountTokensOutput
	if e := h.UpstreamCall(r, func(ctx context.Context) (err error) {
		out, err = h.bedrock.CountTokens(ctx, &bedrockruntime.CountTokensInput{
			ModelId: aws.String(FoundationModelID(c.ModelID)),
			Input: &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{
				Messages: c.Messages, System: c.System, ToolConfig: c.Tools, AdditionalModelRequestFields: c.Additional,
			}},
		})
		return err
	}); e != nil {
		return 0, e
	}
	n := int(deref(out.InputTokens))
	rec.inputTokens = n
	return n, nil
}

// geoPrefixes are the leading parts of Bedrock's system-defined
// cross-Region inference profile ids ("us.anthropic.claude-...").
var geoPrefixes = [...]string{"us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global."}

// FoundationModelID is the foundation model a model id names: the id
// itself, or the model behind a system-defined inference profile (its id
// or ARN) without the geography prefix. An application inference profile's
// ARN says nothing of its model and is returned as it is.
func FoundationModelID(id string) string {
	if strings.HasPrefix(id, "arn:") {
		i := strings.Index(id, ":inference-profile/")
		if i < 0 {
			if j := strings.Index(id, ":foundation-model/"); j >= 0 {
				return id[j+len(":foundation-model/"):]
			}
			return id
		}
		id = id[i+len(":inference-profile/"):]
	}
	for _, p := range geoPrefixes {
		if rest, ok := strings.CutPrefix(id, p); ok {
			return rest
		}
	}
	return id
}
