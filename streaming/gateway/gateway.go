// Package gateway is streamgate as it is deployed: the core (package
// streaming) speaking every dialect. Adding a dialect is one line here.
package gateway

import (
	"log/slog"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/anthropic"
	"github.com/streamgate/streamgate/streaming/bedrockapi"
	"github.com/streamgate/streamgate/streaming/native"
	"github.com/streamgate/streamgate/streaming/openai"
	"github.com/streamgate/streamgate/streaming/original"
)

// Dialects are the client protocols streamgate speaks.
func Dialects() []streaming.Dialect {
	return []streaming.Dialect{
		native.Register,
		openai.Register,
		original.Register,
		anthropic.Register,
		bedrockapi.Register,
	}
}

// New returns the gateway for cfg with every dialect: what both local mode
// and Lambda mode serve.
func New(cfg streaming.Config, up streaming.Upstreams, logger *slog.Logger) *streaming.Handler {
	return streaming.New(cfg, up, logger, Dialects()...)
}
