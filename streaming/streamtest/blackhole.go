package streamtest

import (
	"io"
	"net"
	"testing"
)

// Blackhole is an upstream that accepts connections, reads what it is
// sent and never answers: a Bedrock endpoint that hangs. accepted tells of
// each connection, so that a test knows when a request waits on it.
func Blackhole(t testing.TB) (url string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan struct{}, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			select {
			case ch <- struct{}{}:
			default:
			}
			go io.Copy(io.Discard, c)
		}
	}()
	return "http://" + ln.Addr().String(), ch
}
