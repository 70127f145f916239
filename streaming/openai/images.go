package openai

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/streamgate/streamgate/streaming"
)

// imagesRequest is the body of POST /v1/images/generations.
type imagesRequest struct {
	Prompt         string `json:"prompt"`
	Model          string `json:"model"`
	N              *int   `json:"n"`
	Size           string `json:"size"`
	ResponseFormat string `json:"response_format"`
	Quality        string `json:"quality"`
	Style          string `json:"style"`
}

// serveImages answers POST /v1/images/generations in OpenAI's shape:
// URLs of stored images (response_format "url", the default) or the images
// themselves (b64_json, not stored).
func (d *dialect) serveImages(w http.ResponseWriter, r *http.Request) {
	body, e := d.h.Config().ReadJSON(w, r)
	var req imagesRequest
	if e == nil {
		e = streaming.DecodeLenient(body, &req)
	}
	var ir *streaming.ImageRequest
	if e == nil {
		ir, e = req.imageRequest()
	}
	var images []streaming.GeneratedImage
	if e == nil {
		images, e = d.h.GenerateImages(r, ir, req.Model)
	}
	if e == nil && req.ResponseFormat != "b64_json" {
		_, e = d.h.StoreImages(r, images)
	}
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	data := make([]map[string]string, len(images))
	for i, img := range images {
		if req.ResponseFormat == "b64_json" {
			data[i] = map[string]string{"b64_json": base64.StdEncoding.EncodeToString(img.PNG)}
		} else {
			data[i] = map[string]string{"url": img.URL}
		}
	}
	streaming.WriteJSON(w, http.StatusOK, map[string]any{"created": streaming.LogOf(r).Started().Unix(), "data": data})
}

func (req *imagesRequest) imageRequest() (*streaming.ImageRequest, *streaming.Error) {
	ir := &streaming.ImageRequest{Prompt: req.Prompt, NumberOfImages: req.N}
	switch req.ResponseFormat {
	case "", "url", "b64_json":
	default:
		return nil, streaming.InvalidParam("response_format", `response_format must be "url" or "b64_json" (got %q)`, streaming.Truncate(req.ResponseFormat, 20))
	}
	switch req.Quality {
	case "", "auto", "standard", "medium", "low":
	case "hd", "high":
		ir.Quality = "premium"
	default:
		return nil, streaming.InvalidParam("quality", `quality must be "standard" or "hd" (got %q)`, streaming.Truncate(req.Quality, 20))
	}
	if req.Style != "" {
		return nil, streaming.InvalidParam("style", "style is not supported by this gateway's image models")
	}
	if req.Size != "" && req.Size != "auto" {
		ws, hs, ok := strings.Cut(req.Size, "x")
		w, err1 := strconv.Atoi(ws)
		hgt, err2 := strconv.Atoi(hs)
		if !ok || err1 != nil || err2 != nil {
			return nil, streaming.InvalidParam("size", `size must be WIDTHxHEIGHT such as "1024x1024" (got %q)`, streaming.Truncate(req.Size, 20))
		}
		ir.Width, ir.Height = &w, &hgt
	}
	return ir, nil
}
