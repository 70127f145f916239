package localgw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// prelude is the JSON head of a streamed integration response, as written
// by aws-lambda-go's events.APIGatewayProxyStreamingResponse.
type prelude struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
}

// maxPreludeBytes bounds the prelude (API Gateway's header limits are far
// smaller).
const maxPreludeBytes = 1 << 20

var preludeDelimiter = make([]byte, 8) // 8 NUL bytes

// preludeParser finds the prelude in a stream that may arrive in pieces of
// any size. JSON cannot contain a raw NUL byte, so the first run of 8 NULs
// ends the prelude.
type preludeParser struct {
	buf     []byte
	done    bool
	prelude prelude
}

// feed consumes data; once the delimiter has been seen it sets done and
// returns the body bytes that followed it in data.
func (pp *preludeParser) feed(data []byte) (rest []byte, err error) {
	from := max(0, len(pp.buf)-(len(preludeDelimiter)-1))
	pp.buf = append(pp.buf, data...)
	i := bytes.Index(pp.buf[from:], preludeDelimiter)
	if i < 0 {
		if len(pp.buf) > maxPreludeBytes {
			return nil, fmt.Errorf("streamed response prelude longer than %d bytes without its delimiter (8 NUL bytes)", maxPreludeBytes)
		}
		return nil, nil
	}
	i += from
	head := bytes.TrimSpace(pp.buf[:i])
	if len(head) > 0 {
		if err := json.Unmarshal(head, &pp.prelude); err != nil {
			return nil, fmt.Errorf("malformed streamed response prelude: %v", err)
		}
	}
	rest = pp.buf[i+len(preludeDelimiter):]
	pp.buf = nil
	pp.done = true
	return rest, nil
}

// hopByHop lists the headers a proxy does not forward; Content-Length is
// dropped too, since localgw sets the framing itself.
var hopByHop = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"Content-Length":      true,
}

// applyHeaders merges a proxy response's headers into h the way API Gateway
// does: all multiValueHeaders values, plus each headers value unless the
// same name/value pair is already among the multi values; cookies become
// Set-Cookie headers.
func applyHeaders(h http.Header, single map[string]string, multi map[string][]string, cookies []string) {
	for k, vs := range multi {
		if skipHeader(k) {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for k, v := range single {
		if skipHeader(k) {
			continue
		}
		dup := false
		for mk, mvs := range multi {
			if strings.EqualFold(mk, k) && slices.Contains(mvs, v) {
				dup = true
				break
			}
		}
		if !dup {
			h.Add(k, v)
		}
	}
	for _, c := range cookies {
		h.Add("Set-Cookie", c)
	}
}

func skipHeader(name string) bool {
	if name == "" || hopByHop[http.CanonicalHeaderKey(name)] {
		return true
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return true
		}
	}
	return false
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// trailerError reads the error trailers aws-lambda-go sets when the
// response body fails mid-stream. Call it only after the body hit EOF.
func trailerError(tr http.Header) (errType, msg string) {
	errType = tr.Get(hdrErrorType)
	if errType == "" {
		return "", ""
	}
	raw := tr.Get(hdrErrorBody)
	if b, err := base64.StdEncoding.DecodeString(raw); err == nil {
		raw = string(b)
	}
	t, m := parseFunctionError(errType, []byte(raw))
	return t, m
}

// parseFunctionError reads the Lambda error format {errorMessage, errorType}.
func parseFunctionError(headerType string, body []byte) (errType, msg string) {
	var e struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	errType = headerType
	if json.Unmarshal(body, &e) == nil && (e.ErrorMessage != "" || e.ErrorType != "") {
		if e.ErrorType != "" {
			errType = e.ErrorType
		}
		return errType, e.ErrorMessage
	}
	msg = strings.TrimSpace(string(body))
	if len(msg) > 1024 {
		msg = msg[:1024] + "…"
	}
	return errType, msg
}
