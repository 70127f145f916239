package format

import (
	"testing"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

var formats = []Format{Text, SSE, NDJSON}

// BenchmarkEncodeDelta is the per-delta cost of each format: encode one
// typical delta (a word and a space, with a character to escape now and
// then), write it and flush it. allocs/op is allocations per delta, and
// must stay 0 (TestEncodersDoNotAllocate).
func BenchmarkEncodeDelta(b *testing.B) {
	for _, f := range formats {
		b.Run(string(f), func(b *testing.B) {
			gatewaytest.BenchmarkText(b, NewEncoder(f, streaming.NewFlushWriter(gatewaytest.NewDiscardWriter())))
		})
	}
}

// TestEncodersDoNotAllocate: a delta costs no allocation in any format.
func TestEncodersDoNotAllocate(t *testing.T) {
	for _, f := range formats {
		enc := NewEncoder(f, streaming.NewFlushWriter(gatewaytest.NewDiscardWriter()))
		if n := gatewaytest.TextAllocs(t, enc); n != 0 {
			t.Errorf("%s: %v allocations a delta, want 0", f, n)
		}
	}
}
