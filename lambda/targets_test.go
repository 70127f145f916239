package main

import (
	"net/http/httptest"
	"testing"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/lambda/locals3"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// target is the gateway run for real one way or the other: the bootstrap
// in local mode, or in Lambda mode under localgw. Both call an emulator
// the test can inspect.
type target struct {
	name string
	url  string
	emu  *emulator.Emulator
	logs *streamtest.Buffer // the gateway's JSON log lines
}

// bothTargets starts local mode and the Lambda path (two instances) on
// emulators with opts, each with env. Images go to an in-process S3 (local
// mode's own; a test one for Lambda, through S3_ENDPOINT).
func bothTargets(t *testing.T, opts emulator.Options, env ...string) []target {
	t.Helper()
	emu := emulator.New(opts)
	upstream := httptest.NewServer(emulator.NewServer(emu).Handler)
	t.Cleanup(upstream.Close)
	local := startLocal(t, append([]string{"BEDROCK_ENDPOINT=" + upstream.URL}, env...)...)

	s3, err := locals3.New("lambda-images")
	if err != nil {
		t.Fatal(err)
	}
	s3srv := httptest.NewServer(s3)
	t.Cleanup(s3srv.Close)
	lp := startLambdaPath(t, opts, localgw.Config{Instances: 2}, append([]string{
		"S3_ENDPOINT=" + s3srv.URL, "IMAGES_BUCKET=lambda-images",
		"IMAGE_MODEL_ID=" + emulator.ImageModelID, "EMBEDDING_MODEL_ID=" + emulator.EmbeddingModelID,
	}, env...)...)
	return []target{
		{name: "local", url: local.url, emu: emu, logs: local.stdout},
		{name: "lambda", url: lp.url, emu: lp.emu, logs: lp.logs},
	}
}
