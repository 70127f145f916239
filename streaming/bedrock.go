package streaming

import (
	"io"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// ConfigureClient is the option every Bedrock client of the gateway is
// built with (bedrockruntime.New or NewFromConfig): an HTTP client that
// keeps many long streams open to one host, and whose request bodies hide
// io.WriterTo.
//
// Why hide WriterTo: the SDK closes the request body as soon as the
// response headers arrive; net/http's write loop, after sending
// Content-Length bytes, probes the body once more, and through WriteTo a
// closed SDK body answers with an error, so the transport closes the
// connection under the response stream being read ("use of closed network
// connection", aws-sdk-go-v2 issues #2737 and #1825). A server that answers
// fast — the emulator on loopback, Bedrock close to the function — hits it.
// Read on a closed body is a clean io.EOF, so a body without WriteTo
// removes the cause instead of retrying around it.
func ConfigureClient(o *bedrockruntime.Options) {
	o.HTTPClient = bodyWithoutWriterTo{awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 256
		t.DisableCompression = true // an event stream is never compressed; don't ask for it
	})}
}

type bodyWithoutWriterTo struct{ next bedrockruntime.HTTPClient }

func (c bodyWithoutWriterTo) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return c.next.Do(r)
}
