package streaming

import (
	"bufio"
	"io"
	"mime"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// ConfigureClient is the option every Bedrock client of the gateway is
// built with (bedrockruntime.New or NewFromConfig): an HTTP client that
// keeps many long streams open to one host, whose request bodies hide
// io.WriterTo, and whose event-stream response bodies are buffered.
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
//
// Why buffer: smithy-go's event-stream decoder reads each frame straight
// from the response body in about 20 small reads (4-byte prelude fields,
// then each header's name, type, length and value, byte by byte), and
// each of them goes through net/http's body layers, two mutexes and the
// chunked decoder. A bufio.Reader on top turns them into one read per
// frame. It never waits for more than is there: bufio.Reader.Read calls
// the body at most once and returns what that read gave, so a delta is
// handed on as soon as its frame has arrived.
func ConfigureClient(o *bedrockruntime.Options) {
	o.HTTPClient = gatewayHTTPClient{awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 256
		t.DisableCompression = true // an event stream is never compressed; don't ask for it
	})}
}

// eventStreamReadBuffer holds a few typical frames (a text delta is about
// 150 bytes); larger reads (a big tool-use payload) bypass the buffer.
const eventStreamReadBuffer = 4 << 10

type gatewayHTTPClient struct{ next bedrockruntime.HTTPClient }

func (c gatewayHTTPClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	resp, err := c.next.Do(r)
	if err == nil && resp.Body != nil && isEventStream(resp.Header.Get("Content-Type")) {
		resp.Body = bufferedBody{bufio.NewReaderSize(resp.Body, eventStreamReadBuffer), resp.Body}
	}
	return resp, err
}

func isEventStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/vnd.amazon.eventstream"
}

// bufferedBody reads through the buffer and closes the original body.
type bufferedBody struct {
	*bufio.Reader
	io.Closer
}
