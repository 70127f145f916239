package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestOriginalDesigns (issue 11): the routes of the designs streamgate
// grew from — /generate, /models, /generate-image, /v1/embeddings,
// /v1/images/generations — on local mode and the Lambda path, with their
// original request shapes, through real servers.
func TestOriginalDesigns(t *testing.T) {
	t.Parallel()
	for _, tg := range bothTargets(t, emulator.Options{TokensPerSecond: 500}) {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			t.Run("generate", func(t *testing.T) { t.Parallel(); generateRoute(t, tg) })
			t.Run("generate-image", func(t *testing.T) { t.Parallel(); generateImageRoute(t, tg) })
			t.Run("models", func(t *testing.T) { t.Parallel(); modelsRoute(t, tg) })
			t.Run("openai images and embeddings", func(t *testing.T) { t.Parallel(); openAIImagesAndEmbeddings(t, tg) })
		})
	}
}

func postJSON(t *testing.T, url, body string) streamtest.Result {
	t.Helper()
	return streamtest.Post(t, t.Context(), url, "", body)
}

func generateRoute(t *testing.T, tg target) {
	const input = "Translate streaming into plain words"
	want, stop := emulator.Answer("emulator.fast-v1", input, 0)
	res := postJSON(t, tg.url+"/generate", `{"input":"`+input+`","modelId":"emulator.fast-v1"}`)
	got := streamtest.DecodeJSON[struct {
		Output, ModelID, StopReason string
		Usage                       struct{ OutputTokens int }
	}](t, string(res.Body))
	if res.Status != 200 || got.Output != strings.Join(want, "") || got.StopReason != stop || got.Usage.OutputTokens != len(want) || got.ModelID != "emulator.fast-v1" {
		t.Errorf("POST /generate: %d %s", res.Status, res.Body)
	}
	streamed := postJSON(t, tg.url+"/generate?stream=1", `{"input":"`+input+`","modelId":"emulator.fast-v1"}`)
	if streamed.Status != 200 || string(streamed.Body) != strings.Join(want, "") || !strings.HasPrefix(streamed.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("POST /generate?stream=1: %d %s %q", streamed.Status, streamed.Header.Get("Content-Type"), streamed.Body)
	}
}

// fetchPNG downloads an image URL with a plain GET, as a browser or curl
// would, and returns its size.
func fetchPNG(t *testing.T, imageURL string) (int, int) {
	t.Helper()
	resp, err := http.Get(imageURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", imageURL, resp.StatusCode, body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the image URL did not give a PNG: %v", err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

var imageKey = regexp.MustCompile(`^images/\d{4}/\d{2}/\d{2}/[0-9a-f]{64}\.png$`)

type imageAnswer struct {
	Images    []struct{ URL, Key string }
	URL, Key  string
	ExpiresAt time.Time
	ModelID   string
}

func generateImageRoute(t *testing.T, tg target) {
	// GET with a query, as the original design.
	res := streamtest.Do(t, mustRequest(t, http.MethodGet, tg.url+"/generate-image?prompt="+url.QueryEscape("a lighthouse at dusk")+"&width=512&height=512", ""))
	got := streamtest.DecodeJSON[imageAnswer](t, string(res.Body))
	if res.Status != 200 || len(got.Images) != 1 || got.URL != got.Images[0].URL || !imageKey.MatchString(got.Key) ||
		time.Until(got.ExpiresAt) < 50*time.Minute || time.Until(got.ExpiresAt) > 61*time.Minute {
		t.Fatalf("GET /generate-image: %d %s", res.Status, res.Body)
	}
	if w, h := fetchPNG(t, got.URL); w != 512 || h != 512 {
		t.Errorf("image is %dx%d, want 512x512", w, h)
	}
	// POST with several images.
	res = postJSON(t, tg.url+"/generate-image", `{"prompt":"two foxes","width":768,"height":1152,"numberOfImages":2,"seed":7,"cfgScale":6.5}`)
	got = streamtest.DecodeJSON[imageAnswer](t, string(res.Body))
	if res.Status != 200 || len(got.Images) != 2 || got.Images[0].Key == got.Images[1].Key {
		t.Fatalf("POST /generate-image: %d %s", res.Status, res.Body)
	}
	for _, img := range got.Images {
		if w, h := fetchPNG(t, img.URL); w != 768 || h != 1152 {
			t.Errorf("image is %dx%d, want 768x1152", w, h)
		}
	}
	// The same prompt and seed make the same image: the same
	// content-addressed key.
	again := streamtest.DecodeJSON[imageAnswer](t, string(postJSON(t, tg.url+"/generate-image", `{"prompt":"two foxes","width":768,"height":1152,"numberOfImages":2,"seed":7,"cfgScale":6.5}`).Body))
	if len(again.Images) != 2 || again.Images[0].Key != got.Images[0].Key {
		t.Errorf("same prompt and seed: keys %v, then %v", got.Images, again.Images)
	}
}

func modelsRoute(t *testing.T, tg target) {
	type listing struct {
		Models []struct {
			ModelID, Provider string
			OutputModalities  []string
			Streaming         bool
			Allowed           bool
		}
	}
	calls := func() int {
		n := 0
		for _, r := range tg.emu.Records() {
			if r.Operation == "ListFoundationModels" {
				n++
			}
		}
		return n
	}
	before := calls()
	res := streamtest.Do(t, mustRequest(t, http.MethodGet, tg.url+"/models?outputModality=IMAGE", ""))
	got := streamtest.DecodeJSON[listing](t, string(res.Body))
	if res.Status != 200 || len(got.Models) != 1 || got.Models[0].ModelID != emulator.ImageModelID || got.Models[0].Allowed {
		t.Errorf("GET /models?outputModality=IMAGE: %d %s; want just the image model, not allowed for chat", res.Status, res.Body)
	}
	res = streamtest.Do(t, mustRequest(t, http.MethodGet, tg.url+"/models?outputModality=text&provider=Emulator&inferenceType=ON_DEMAND", ""))
	got = streamtest.DecodeJSON[listing](t, string(res.Body))
	allowed := 0
	for _, m := range got.Models {
		if m.Allowed {
			allowed++
		}
	}
	if res.Status != 200 || allowed != len(emulator.Models()) {
		t.Errorf("GET /models?outputModality=text: %d, %d allowed; want the %d chat models allowed: %s", res.Status, allowed, len(emulator.Models()), res.Body)
	}
	// The answer is cached: asking again does not call Bedrock.
	streamtest.Do(t, mustRequest(t, http.MethodGet, tg.url+"/models?outputModality=IMAGE", ""))
	if n := calls() - before; tg.name == "local" && n != 2 {
		t.Errorf("%d ListFoundationModels calls for three requests of two filters; want 2 (cached)", n)
	}
}

func openAIImagesAndEmbeddings(t *testing.T, tg target) {
	client := openAIClient(tg.url)
	img, err := client.Images.Generate(t.Context(), openai.ImageGenerateParams{
		Prompt: "a red kite", Size: "512x512", ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(img.Data[0].B64JSON)
	if want := emulator.Image("a red kite", 42, 0, 512, 512); !bytes.Equal(raw, want) {
		t.Errorf("b64_json image differs from the emulator's (%d vs %d bytes)", len(raw), len(want))
	}
	img, err = client.Images.Generate(t.Context(), openai.ImageGenerateParams{Prompt: "a blue kite", Size: "512x512"})
	if err != nil {
		t.Fatal(err)
	}
	if w, h := fetchPNG(t, img.Data[0].URL); w != 512 || h != 512 {
		t.Errorf("url image %dx%d", w, h)
	}

	texts := []string{"streams of words", "a river of tokens"}
	emb, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
		Model:      emulator.EmbeddingModelID,
		Dimensions: openai.Int(256),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 2 || emb.Usage.PromptTokens == 0 {
		t.Fatalf("embeddings %+v", emb)
	}
	for i, d := range emb.Data {
		want := emulator.Embedding(texts[i], 256, true)
		if int(d.Index) != i || len(d.Embedding) != 256 || d.Embedding[0] != want[0] || d.Embedding[255] != want[255] {
			t.Errorf("embedding %d differs from the emulator's", i)
		}
	}
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// TestOriginalDesignsRefuseBadInput: every way to send the new routes a
// wrong request gets its status and a JSON error, and Bedrock is never
// called.
func TestOriginalDesignsRefuseBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path, body string
		wantStatus         int
		wantCode           string
		wantMessage        string
	}{
		{"POST", "/generate", `{}`, 400, "invalid_request", "Missing 'input' in request body"},
		{"POST", "/generate", `{"input":"  "}`, 400, "invalid_request", "Missing 'input' in request body"},
		{"POST", "/generate", `{"input":"x","bogus":1}`, 400, "invalid_request", `unknown field "bogus"`},
		{"POST", "/generate", `{"input":"x","modelId":"anthropic.claude-v2"}`, 403, "model_not_allowed", "not allowed"},
		{"POST", "/generate?stream=maybe", `{"input":"x"}`, 400, "invalid_request", "stream must be"},
		{"GET", "/generate-image", ``, 400, "invalid_request", "prompt is required"},
		{"GET", "/generate-image?prompt=cat&width=100&height=100", ``, 400, "invalid_request", "100x100 is not a size"},
		{"GET", "/generate-image?prompt=cat&colour=red", ``, 400, "invalid_request", `unknown query parameter "colour"`},
		{"GET", "/generate-image?prompt=cat&seed=-1", ``, 400, "invalid_request", "seed must be"},
		{"POST", "/generate-image", `{"prompt":"cat","numberOfImages":9}`, 400, "invalid_request", "numberOfImages must be from 1 to 5"},
		{"POST", "/generate-image", `{"prompt":"cat","cfgScale":50}`, 400, "invalid_request", "cfgScale must be"},
		{"POST", "/generate-image", `{"prompt":"` + strings.Repeat("x", 600) + `"}`, 400, "invalid_request", "at most 512"},
		{"POST", "/generate-image", `{"prompt":"cat","style":"vivid"}`, 400, "invalid_request", `unknown field "style"`},
		{"POST", "/v1/images/generations", `{"prompt":"cat","model":"dall-e-3"}`, 403, "model_not_allowed", "the image model is"},
		{"POST", "/v1/images/generations", `{"prompt":"cat","size":"huge"}`, 400, "invalid_request", "size must be"},
		{"POST", "/v1/images/generations", `{"prompt":"cat","response_format":"png"}`, 400, "invalid_request", "response_format"},
		{"POST", "/v1/embeddings", `{"input":[` + strings.Repeat(`"a",`, 32) + `"a"]}`, 400, "invalid_request", "1 to 32 strings"},
		{"POST", "/v1/embeddings", `{"input":[]}`, 400, "invalid_request", "1 to 32 strings"},
		{"POST", "/v1/embeddings", `{"input":[1,2,3]}`, 400, "invalid_request", "token arrays"},
		{"POST", "/v1/embeddings", `{"input":"x","dimensions":300}`, 400, "invalid_request", "256, 512 or 1024"},
		{"POST", "/v1/embeddings", `{"input":"x","model":"text-embedding-3-small"}`, 403, "model_not_allowed", "the embedding model is"},
		{"POST", "/v1/embeddings", `{"model":"` + emulator.EmbeddingModelID + `"}`, 400, "invalid_request", "input is required"},
		{"GET", "/models?outputModality=AUDIO", ``, 400, "invalid_request", "outputModality must be"},
		{"GET", "/models?sort=name", ``, 400, "invalid_request", `unknown query parameter "sort"`},
	}
	for _, tg := range bothTargets(t, emulator.Options{}) {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				res := streamtest.Do(t, mustRequest(t, tt.method, tg.url+tt.path, tt.body))
				var got struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(res.Body, &got); err != nil || res.Status != tt.wantStatus || got.Error.Code != tt.wantCode ||
					!strings.Contains(got.Error.Message, tt.wantMessage) {
					t.Errorf("%s %s %.80s: %d %s; want %d %s %q", tt.method, tt.path, tt.body, res.Status, res.Body, tt.wantStatus, tt.wantCode, tt.wantMessage)
				}
			}
			if records := tg.emu.Records(); len(records) != 0 {
				t.Errorf("bad requests reached the emulator: %+v", records)
			}
		})
	}
}

// TestImageURLExpires: with PRESIGN_SECONDS=1 the image URL works at once
// and is refused once it has expired, by local mode's S3 as by S3.
func TestImageURLExpires(t *testing.T) {
	t.Parallel()
	// 3 s, not 1: X-Amz-Date is the signing time cut to the second, so a
	// URL lives between PRESIGN_SECONDS-1 and PRESIGN_SECONDS; with 1 it
	// could expire before the first fetch (it did, once: signed late in a
	// second, fetched just after the next one began).
	p := startLocal(t, "PRESIGN_SECONDS=3")
	res := postJSON(t, p.url+"/generate-image", `{"prompt":"a short-lived image","width":512,"height":512}`)
	got := streamtest.DecodeJSON[imageAnswer](t, string(res.Body))
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	fetchPNG(t, got.URL)
	// Presigned URLs count whole seconds from X-Amz-Date: wait past them.
	time.Sleep(3500 * time.Millisecond)
	resp, err := http.Get(got.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Request has expired") {
		t.Errorf("expired URL: %d %s; want 403 Request has expired", resp.StatusCode, body)
	}
}
