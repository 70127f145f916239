package emulator

import (
	"net/http"
	"time"
)

// NewServer returns an *http.Server for h (an Emulator, usually) that
// speaks HTTP/1.1 and HTTP/2 without TLS ("h2c" with prior knowledge, as
// the Node AWS SDK v3's NodeHttp2Handler sends it to an http:// endpoint),
// with the timeouts a loopback server needs: a bound on reading request
// headers and on idle connections, but no write timeout, since long-v1 and
// slow-start-v1 streams last minutes. The caller sets Addr or calls Serve,
// and may set ErrorLog.
func NewServer(h http.Handler) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}
