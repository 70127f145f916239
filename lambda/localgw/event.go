package localgw

import (
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// buildEvent turns r into the REST (payload v1) proxy event that API
// Gateway sends to a Lambda proxy integration on a greedy proxy resource:
//
//   - Resource and RequestContext.ResourcePath are "/{proxy+}" and
//     PathParameters is {"proxy": path without its leading slash}; for the
//     root path "/" (which `/{proxy+}` does not match on API Gateway, so a
//     root method is assumed) they are "/" and nil.
//   - Path is the request path as sent to the gateway (localgw serves the
//     stage at the root: http://HOST:PORT/stream is stage path
//     /STAGE/stream), and RequestContext.Path is "/" + stage + path.
//   - Headers holds the last value of each header and MultiValueHeaders all
//     of them (with Go's canonical names), plus what API Gateway adds: Host,
//     X-Forwarded-For, X-Forwarded-Port, X-Forwarded-Proto and
//     X-Amzn-Trace-Id. Query string maps are nil when there is no query.
//   - Body is the body as a string, or base64 with IsBase64Encoded when it
//     is not valid UTF-8.
func (g *Gateway) buildEvent(r *http.Request, body []byte, requestID, extendedID, traceRoot string, start time.Time) *events.APIGatewayProxyRequest {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	resource := "/{proxy+}"
	var pathParams map[string]string
	if path == "/" {
		resource = "/"
	} else {
		pathParams = map[string]string{"proxy": strings.TrimPrefix(path, "/")}
	}

	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	multi := make(map[string][]string, len(r.Header)+5)
	for k, vs := range r.Header {
		if len(vs) > 0 {
			multi[k] = append([]string(nil), vs...)
		}
	}
	multi["Host"] = []string{r.Host}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		multi["X-Forwarded-For"] = []string{strings.Join(xff, ", ") + ", " + sourceIP}
	} else {
		multi["X-Forwarded-For"] = []string{sourceIP}
	}
	port := ""
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			port = p
		}
	}
	if port != "" {
		multi["X-Forwarded-Port"] = []string{port}
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	multi["X-Forwarded-Proto"] = []string{proto}
	if len(r.Header.Values("X-Amzn-Trace-Id")) == 0 {
		multi["X-Amzn-Trace-Id"] = []string{traceRoot}
	}
	headers := make(map[string]string, len(multi))
	for k, vs := range multi {
		headers[k] = vs[len(vs)-1]
	}

	var query map[string]string
	var multiQuery map[string][]string
	if q := r.URL.Query(); len(q) > 0 {
		query = make(map[string]string, len(q))
		multiQuery = make(map[string][]string, len(q))
		for k, vs := range q {
			multiQuery[k] = vs
			query[k] = vs[len(vs)-1]
		}
	}

	var bodyStr string
	isB64 := false
	if len(body) > 0 {
		if utf8.Valid(body) {
			bodyStr = string(body)
		} else {
			bodyStr = base64.StdEncoding.EncodeToString(body)
			isB64 = true
		}
	}

	domain := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		domain = h
	}
	prefix, _, _ := strings.Cut(domain, ".")

	return &events.APIGatewayProxyRequest{
		Resource:                        resource,
		Path:                            path,
		HTTPMethod:                      r.Method,
		Headers:                         headers,
		MultiValueHeaders:               multi,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		PathParameters:                  pathParams,
		Body:                            bodyStr,
		IsBase64Encoded:                 isB64,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:         AccountID,
			ResourceID:        g.resourceID,
			Stage:             g.cfg.Stage,
			DomainName:        domain,
			DomainPrefix:      prefix,
			RequestID:         requestID,
			ExtendedRequestID: extendedID,
			Protocol:          r.Proto,
			Identity: events.APIGatewayRequestIdentity{
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
			ResourcePath:     resource,
			Path:             "/" + g.cfg.Stage + path,
			HTTPMethod:       r.Method,
			RequestTime:      start.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: start.UnixMilli(),
			APIID:            APIID,
		},
	}
}
