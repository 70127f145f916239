package original

import (
	"net/http"
	"strconv"
	"time"

	"github.com/streamgate/streamgate/streaming"
)

// imageSchema is the shape of POST /generate-image's body.
var imageSchema = &streaming.KeySchema{Fields: streaming.FieldsOf("prompt", "negativePrompt", "width", "height", "cfgScale", "seed", "numberOfImages", "quality")}

const imageFields = "prompt, negativePrompt, width, height, cfgScale, seed, numberOfImages, quality"

// serveGenerateImage answers GET /generate-image?prompt=... and
// POST /generate-image {"prompt", ...}: the image is stored in S3 and
// answered with a presigned URL.
func (d *dialect) serveGenerateImage(w http.ResponseWriter, r *http.Request) {
	req, e := readImageRequest(d.h.Config(), w, r)
	var images []streaming.GeneratedImage
	if e == nil {
		images, e = d.h.GenerateImages(r, req, "")
	}
	var expires time.Time
	if e == nil {
		expires, e = d.h.StoreImages(r, images)
	}
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	list := make([]map[string]string, len(images))
	for i, img := range images {
		list[i] = map[string]string{"url": img.URL, "key": img.Key}
	}
	streaming.WriteJSON(w, http.StatusOK, map[string]any{
		"images": list, "url": images[0].URL, "key": images[0].Key,
		"expiresAt": expires.UTC().Format(time.RFC3339), "modelId": d.h.Config().ImageModelID,
	})
}

func readImageRequest(cfg *streaming.Config, w http.ResponseWriter, r *http.Request) (*streaming.ImageRequest, *streaming.Error) {
	var req streaming.ImageRequest
	if r.Method == http.MethodPost {
		body, e := cfg.ReadJSON(w, r)
		if e != nil {
			return nil, e
		}
		if e := streaming.DecodeStrict(body, &req, imageSchema, imageFields, nil); e != nil {
			return nil, e
		}
		return &req, nil
	}
	for name, values := range r.URL.Query() {
		if len(values) != 1 {
			return nil, streaming.InvalidParam(name, "give %s once", streaming.Truncate(name, 40))
		}
		v := values[0]
		var err error
		switch name {
		case "prompt":
			req.Prompt = v
		case "negativePrompt":
			req.NegativePrompt = v
		case "quality":
			req.Quality = v
		case "width":
			req.Width, err = intParam(v)
		case "height":
			req.Height, err = intParam(v)
		case "numberOfImages":
			req.NumberOfImages, err = intParam(v)
		case "seed":
			var n int64
			n, err = strconv.ParseInt(v, 10, 64)
			req.Seed = &n
		case "cfgScale":
			var f float64
			f, err = strconv.ParseFloat(v, 64)
			req.CfgScale = &f
		default:
			return nil, streaming.InvalidParam(name, "unknown query parameter %q; known: %s", streaming.Truncate(name, 40), imageFields)
		}
		if err != nil {
			return nil, streaming.InvalidParam(name, "%s must be a number (got %q)", name, streaming.Truncate(v, 40))
		}
	}
	return &req, nil
}

func intParam(v string) (*int, error) {
	n, err := strconv.Atoi(v)
	return &n, err
}
