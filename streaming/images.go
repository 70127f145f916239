package streaming

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// ImageRequest is what a dialect's image route asks for, after its own
// parsing: a TEXT_IMAGE request body for Titan Image Generator v2 or Nova
// Canvas, in their own field names.
type ImageRequest struct {
	Prompt         string   `json:"prompt"`
	NegativePrompt string   `json:"negativePrompt"`
	Width          *int     `json:"width"`
	Height         *int     `json:"height"`
	CfgScale       *float64 `json:"cfgScale"`
	Seed           *int64   `json:"seed"`
	NumberOfImages *int     `json:"numberOfImages"`
	Quality        string   `json:"quality"`
}

// titanImageSizes are the sizes Titan Image Generator v2 accepts.
var titanImageSizes = map[[2]int]bool{
	{1024, 1024}: true, {768, 768}: true, {512, 512}: true, {768, 1152}: true, {384, 576}: true,
	{1152, 768}: true, {576, 384}: true, {768, 1280}: true, {384, 640}: true, {1280, 768}: true,
	{640, 384}: true, {896, 1152}: true, {448, 576}: true, {1152, 896}: true, {576, 448}: true,
	{768, 1408}: true, {384, 704}: true, {1408, 768}: true, {704, 384}: true, {640, 1408}: true,
	{320, 704}: true, {1408, 640}: true, {704, 320}: true, {1152, 640}: true, {1173, 640}: true,
}

// imageBody checks the request against the image model's limits, before
// any call, and builds the InvokeModel body.
func imageBody(modelID string, req *ImageRequest) ([]byte, int, *Error) {
	nova := strings.Contains(modelID, "nova-canvas")
	maxPrompt := 512
	if nova {
		maxPrompt = 1024
	}
	if strings.TrimSpace(req.Prompt) == "" {
		return nil, 0, InvalidParam("prompt", "prompt is required: describe the image")
	}
	if n := utf8.RuneCountInString(req.Prompt); n > maxPrompt {
		return nil, 0, InvalidParam("prompt", "prompt is %d characters long; this image model takes at most %d", n, maxPrompt)
	}
	if n := utf8.RuneCountInString(req.NegativePrompt); req.NegativePrompt != "" && (n < 3 || n > maxPrompt) {
		return nil, 0, InvalidParam("negativePrompt", "negativePrompt must be 3 to %d characters long", maxPrompt)
	}
	width, height := ValueOr(req.Width, 1024), ValueOr(req.Height, 1024)
	if nova {
		if width < 320 || width > 4096 || height < 320 || height > 4096 || width%16 != 0 || height%16 != 0 ||
			width*height > 4_194_304 || width > 4*height || height > 4*width {
			return nil, 0, InvalidParam("width", "width and height must be 320 to 4096 and divisible by 16, at most 4,194,304 pixels, with an aspect ratio from 1:4 to 4:1 (got %dx%d)", width, height)
		}
	} else if !titanImageSizes[[2]int{width, height}] {
		return nil, 0, InvalidParam("width", "%dx%d is not a size this image model makes; try 1024x1024, 768x768, 512x512, 1152x768 or 768x1152", width, height)
	}
	cfgScale := ValueOr(req.CfgScale, 8.0)
	if !(cfgScale >= 1.1 && cfgScale <= 10) {
		return nil, 0, InvalidParam("cfgScale", "cfgScale must be from 1.1 to 10 (got %v)", cfgScale)
	}
	seed := ValueOr(req.Seed, defaultImageSeed)
	if seed < 0 || seed > 2147483646 {
		return nil, 0, InvalidParam("seed", "seed must be from 0 to 2147483646 (got %d)", seed)
	}
	n := ValueOr(req.NumberOfImages, 1)
	if n < 1 || n > 5 {
		return nil, 0, InvalidParam("numberOfImages", "numberOfImages must be from 1 to 5 (got %d)", n)
	}
	quality := req.Quality
	switch quality {
	case "":
		quality = "standard"
	case "standard", "premium":
	default:
		return nil, 0, InvalidParam("quality", `quality must be "standard" or "premium" (got %q)`, Truncate(quality, 20))
	}
	params := map[string]any{"text": req.Prompt}
	if req.NegativePrompt != "" {
		params["negativeText"] = req.NegativePrompt
	}
	body, err := json.Marshal(map[string]any{
		"taskType":          "TEXT_IMAGE",
		"textToImageParams": params,
		"imageGenerationConfig": map[string]any{
			"numberOfImages": n, "width": width, "height": height, "cfgScale": cfgScale, "seed": seed, "quality": quality,
		},
	})
	if err != nil {
		return nil, 0, &Error{Status: http.StatusInternalServerError, Code: CodeUpstreamError, Message: "the image request could not be encoded"}
	}
	return body, n, nil
}

// defaultImageSeed is Titan Image Generator's documented default seed.
const defaultImageSeed = 42

// ValueOr is *p, or def when p is nil.
func ValueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// GeneratedImage is one image, stored or not.
type GeneratedImage struct {
	PNG []byte
	Key string // S3 key, once stored
	URL string // presigned GET URL, once stored
}

// GenerateImages calls IMAGE_MODEL_ID (model, when not empty, must name
// it) and returns its PNGs.
func (h *Handler) GenerateImages(r *http.Request, req *ImageRequest, model string) ([]GeneratedImage, *Error) {
	if h.cfg.ImageModelID == "" {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeNotConfigured,
			Message: "image generation is off on this gateway (the operator sets IMAGE_MODEL_ID and IMAGES_BUCKET)"}
	}
	if model != "" && model != h.cfg.ImageModelID {
		return nil, &Error{Status: http.StatusForbidden, Code: CodeModelNotAllowed, Param: "model",
			Message: fmt.Sprintf("model %q is not allowed here; the image model is %s", Truncate(model, 200), h.cfg.ImageModelID)}
	}
	body, want, e := imageBody(h.cfg.ImageModelID, req)
	if e != nil {
		return nil, e
	}
	rec := logOf(r)
	rec.model = h.cfg.ImageModelID
	if e := h.Admit(r); e != nil {
		return nil, e
	}
	out, e := h.InvokeJSON(r, h.cfg.ImageModelID, body)
	if e != nil {
		return nil, contentFilter(e)
	}
	var resp struct {
		Images []string `json:"images"`
		Error  *string  `json:"error"`
	}
	if err := json.Unmarshal(out.Body, &resp); err != nil {
		rec.cause = "image model answer is not JSON: " + err.Error()
		return nil, &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Message: "the image model's answer could not be read"}
	}
	if resp.Error != nil && *resp.Error != "" {
		rec.cause = Truncate(*resp.Error, 300)
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeContentFiltered, Message: "the image model refused the prompt: " + Truncate(*resp.Error, 200)}
	}
	if len(resp.Images) != want {
		rec.cause = fmt.Sprintf("asked for %d images, got %d", want, len(resp.Images))
		return nil, &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Message: "the image model returned a different number of images than asked for"}
	}
	images := make([]GeneratedImage, len(resp.Images))
	for i, b64 := range resp.Images {
		png, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
			rec.cause = "image model returned something that is not a base64 PNG"
			return nil, &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Message: "the image model returned an image that is not a PNG"}
		}
		images[i] = GeneratedImage{PNG: png}
	}
	rec.outputTokens = len(images)
	return images, nil
}

// contentFilter turns the image models' refusal of a prompt (a
// ValidationException naming their content filters) into a clear 400.
func contentFilter(e *Error) *Error {
	if e.Code == CodeUpstreamRejected && strings.Contains(strings.ToLower(e.Message), "content filter") {
		return &Error{Status: http.StatusBadRequest, Code: CodeContentFiltered,
			Message: "the image model's content filters blocked this prompt; rephrase it"}
	}
	return e
}

// StoreImages puts each PNG in IMAGES_BUCKET under a content-addressed key
// (images/YYYY/MM/DD/<sha256>.png, server-side encrypted) and presigns a
// GET URL valid PRESIGN_SECONDS.
func (h *Handler) StoreImages(r *http.Request, images []GeneratedImage) (time.Time, *Error) {
	up := h.Upstreams()
	if up.S3 == nil || h.cfg.ImagesBucket == "" {
		return time.Time{}, &Error{Status: http.StatusServiceUnavailable, Code: CodeNotConfigured, Message: "image storage is not configured on this gateway"}
	}
	expires := time.Now().Add(h.cfg.PresignExpiry)
	for i := range images {
		sum := sha256.Sum256(images[i].PNG)
		key := "images/" + time.Now().UTC().Format("2006/01/02") + "/" + hex.EncodeToString(sum[:]) + ".png"
		e := h.UpstreamCall(r, func(ctx context.Context) error {
			return up.S3.PutObject(ctx, S3Object{Bucket: h.cfg.ImagesBucket, Key: key, ContentType: "image/png", Body: images[i].PNG, ServerSideEncryption: "AES256"})
		})
		if e != nil {
			if e.Code == CodeUpstreamRejected || e.Status == http.StatusBadGateway {
				e = &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Retryable: true, Message: "the image could not be stored"}
			}
			return time.Time{}, e
		}
		signed, err := up.S3.PresignGetObject(r.Context(), h.cfg.ImagesBucket, key, h.cfg.PresignExpiry)
		if err != nil {
			logOf(r).cause = "presigning: " + err.Error()
			return time.Time{}, &Error{Status: http.StatusInternalServerError, Code: CodeUpstreamError, Message: "the image URL could not be signed"}
		}
		images[i].Key, images[i].URL = key, signed
	}
	return expires, nil
}
