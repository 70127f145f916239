package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// proxyEnv, when set in the environment, makes this program (or its test
// binary, see TestMain) a reverse proxy to that URL instead of a benchmark:
// path (d) of the latency section runs it as its own process, as local
// mode's bootstrap is.
const proxyEnv = "STREAMGATE_BENCH_PROXY_UPSTREAM"

// serveProxy serves httputil.ReverseProxy with FlushInterval -1 (flush
// after every write) on a free loopback port until SIGTERM or SIGINT: a
// relay that only copies bytes, the least any extra hop can cost. It
// prints "listening on http://ADDR" on stderr once it serves.
func serveProxy(upstream string, stderr io.Writer) int {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fmt.Fprintf(stderr, "benchmark proxy: %s=%q is not an http:// URL\n", proxyEnv, upstream)
		return 2
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		FlushInterval: -1,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		ErrorLog: log.New(stderr, "benchmark proxy: ", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "benchmark proxy:", err)
		return 1
	}
	// Full duplex: by default the HTTP/1 server consumes and closes what is
	// left of a request body once the response begins, and the
	// transport, still probing that same body for its end, then closes
	// the upstream connection under the response ("use of closed network
	// connection", the mechanism of aws-sdk-go-v2 #2737). A relay reads
	// and writes at once, so it says so.
	full := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			http.Error(w, "benchmark proxy: "+err.Error(), http.StatusInternalServerError)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: full, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Fprintf(stderr, "benchmark proxy: listening on http://%s (to %s)\n", ln.Addr(), upstream)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(stderr, "benchmark proxy:", err)
		return 1
	}
	return 0
}

// startProxy runs this very binary as the proxy to upstream.
func startProxy(ctx context.Context, upstream string, extraEnv ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startChild(ctx, "reverse proxy", self, nil, append(append(inheritedEnv(), extraEnv...), proxyEnv+"="+upstream))
}
