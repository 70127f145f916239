package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// EncoderReport is section 5: go test -bench -benchmem ./streaming/.
type EncoderReport struct {
	CPU     string // the "cpu:" line go test printed
	Results []GoBench
	Missing bool // no -gobench file was given
}

// GoBench is one benchmark line.
type GoBench struct {
	Name        string // without "Benchmark" and the -GOMAXPROCS suffix
	Iterations  int64
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
	// Per delta, when the benchmark reports it (b.ReportMetric with
	// ns/delta, B/delta, allocs/delta); -1 when it does not.
	NsPerDelta, BytesPerDelta, AllocsPerDelta float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

func readGoBench(path string) (*EncoderReport, error) {
	if path == "" {
		return &EncoderReport{Missing: true}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep, err := parseGoBench(bufio.NewScanner(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

// find returns the result named name, or nil.
func (e *EncoderReport) find(name string) *GoBench {
	for i := range e.Results {
		if e.Results[i].Name == name {
			return &e.Results[i]
		}
	}
	return nil
}

func parseGoBench(sc *bufio.Scanner) (*EncoderReport, error) {
	rep := &EncoderReport{}
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			rep.CPU = strings.TrimSpace(v)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := GoBench{Name: procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), ""), Iterations: iters,
			NsPerDelta: -1, BytesPerDelta: -1, AllocsPerDelta: -1}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			case "ns/delta":
				b.NsPerDelta = v
			case "B/delta":
				b.BytesPerDelta = v
			case "allocs/delta":
				b.AllocsPerDelta = v
			}
		}
		if strings.HasPrefix(b.Name, "EncodeDelta/") { // one op is one delta
			b.NsPerDelta, b.BytesPerDelta, b.AllocsPerDelta = b.NsPerOp, b.BytesPerOp, b.AllocsPerOp
		}
		rep.Results = append(rep.Results, b)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rep.Results) == 0 {
		return nil, errors.New("no benchmark results (did go test -bench fail?)")
	}
	return rep, nil
}

// benchMeaning says what one op of a known benchmark is.
func benchMeaning(name string) string {
	switch {
	case strings.HasPrefix(name, "EncodeDelta/"):
		f := strings.TrimPrefix(name, "EncodeDelta/")
		return "per delta, " + f + " format: encode one delta, write it and flush it (to a discarding ResponseWriter); paid once per token on every stream"
	case name == "ReadRequest":
		return "per request: decode and validate a typical /stream body (3 messages, system, maxTokens, temperature) and build the Bedrock call; paid once per stream"
	case name == "Stream/direct-sdk":
		return "per stream: one emulator.fast-v1 answer read with the SDK straight from an in-process emulator (baseline; per delta includes the emulator's own encoding)"
	case name == "Stream/gateway-sse":
		return "per stream: the same answer relayed by the gateway as SSE over loopback HTTP; minus direct-sdk = what the gateway adds"
	case name == "LambdaRelay/sdk":
		return "per stream (lambda/apigw): a recorded 500-delta answer replayed one frame per flush from a loopback server, read with the SDK alone and its own event decoder; the upstream allocates nothing per delta, so these are the SDK's own costs"
	case name == "LambdaRelay/lambda-sse":
		return "per stream (lambda/apigw): the same answer through the Lambda path, apigw.Wrap and its pipe, read as the runtime reads it; the gateway decodes text-delta frames itself (streaming.deltaFrameProtocol), so this is below sdk: the SDK's decoding costs more than the whole relay"
	case name == "LambdaRelay/sdk-code":
		return "per stream (lambda/apigw): as sdk, on a 500-delta emulator.code-v1 answer (code: most deltas carry JSON escapes such as \\n, \\\" and \\t)"
	case name == "LambdaRelay/lambda-sse-code":
		return "per stream (lambda/apigw): as lambda-sse, on the emulator.code-v1 answer: the gateway's decoder decodes escaped text itself too"
	}
	return "see the bench_test.go files of streaming and its dialects"
}
