package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"image"
	"image/png"
	"math"
	"strconv"
)

// detectImageFormat names the format of an image by its magic bytes, as
// the Converse image block spells it, or "" when it is none of them.
func detectImageFormat(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// imageSizes are the sizes (width, height) Titan Image Generator v2
// accepts; image-v1 accepts exactly these.
var imageSizes = [...][2]int{
	{1024, 1024}, {768, 768}, {512, 512},
	{768, 1152}, {384, 576}, {1152, 768}, {576, 384},
	{768, 1280}, {384, 640}, {1280, 768}, {640, 384},
	{896, 1152}, {448, 576}, {1152, 896}, {576, 448},
	{768, 1408}, {384, 704}, {1408, 768}, {704, 384},
	{640, 1408}, {320, 704}, {1408, 640}, {704, 320},
	{1152, 640}, {1173, 640},
}

// Defaults of image-v1's imageGenerationConfig, as Titan Image Generator v2's.
const (
	defaultImageWidth  = 1024
	defaultImageHeight = 1024
	// DefaultImageSeed is the seed image-v1 uses when the request sets none.
	DefaultImageSeed = 42
)

// ImageSizes returns the sizes, {width, height}, that image-v1 accepts:
// Titan Image Generator v2's list. Any other size is refused with a
// ValidationException, as the real model refuses it.
func ImageSizes() [][2]int { return append([][2]int(nil), imageSizes[:]...) }

func imageSizeAllowed(w, h int) bool {
	for _, s := range imageSizes {
		if s[0] == w && s[1] == h {
			return true
		}
	}
	return false
}

// Image returns the PNG that image-v1 generates for prompt (the
// textToImageParams.text), seed and the image's index in the answer
// (0 to numberOfImages-1), width × height pixels: a gradient with a few
// discs, in colours derived from all four, so that a test can compare
// stored or relayed bytes with it exactly. It accepts any positive size;
// the emulator's request validation is what limits sizes to ImageSizes.
// It returns nil for a size that is not positive or above 4096.
func Image(prompt string, seed int64, index, width, height int) []byte {
	if width <= 0 || height <= 0 || width > 4096 || height > 4096 {
		return nil
	}
	sum := sha256.Sum256([]byte(prompt + "\x00" + strconv.FormatInt(seed, 10) + "\x00" + strconv.Itoa(index)))
	at := func(i int) float64 { return float64(sum[i%len(sum)]) / 255 }
	from := [3]float64{255 * at(0), 255 * at(1), 255 * at(2)}
	to := [3]float64{255 * at(3), 255 * at(4), 255 * at(5)}
	angle := 2 * math.Pi * at(6)
	dx, dy := math.Cos(angle), math.Sin(angle)

	type disc struct {
		cx, cy, r2 float64
		col        [3]float64
	}
	discs := make([]disc, 2+int(sum[7]%4))
	for i := range discs {
		v := binary.BigEndian.Uint32(sum[8+i*4:])
		r := (0.08 + 0.17*float64(v&0xff)/255) * float64(min(width, height))
		discs[i] = disc{
			cx:  float64(width) * float64(v>>8&0xff) / 255,
			cy:  float64(height) * float64(v>>16&0xff) / 255,
			r2:  r * r,
			col: [3]float64{255 * at(24+i), 255 * at(28+i), 255 * at(20+i)},
		}
	}

	img := image.NewRGBA(image.Rect(0, 0, width, height))
	span := math.Abs(dx)*float64(width) + math.Abs(dy)*float64(height)
	offset := math.Min(0, dx*float64(width)) + math.Min(0, dy*float64(height))
	for y := range height {
		row := img.Pix[y*img.Stride:]
		for x := range width {
			t := (dx*float64(x) + dy*float64(y) - offset) / span
			c := [3]float64{}
			for k := range c {
				c[k] = from[k] + (to[k]-from[k])*t
			}
			for _, d := range discs {
				ddx, ddy := float64(x)-d.cx, float64(y)-d.cy
				if ddx*ddx+ddy*ddy <= d.r2 {
					for k := range c {
						c[k] = (c[k] + d.col[k]) / 2
					}
				}
			}
			p := row[x*4 : x*4+4 : x*4+4]
			p[0], p[1], p[2], p[3] = uint8(c[0]), uint8(c[1]), uint8(c[2]), 255
		}
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&b, img); err != nil {
		return nil
	}
	return b.Bytes()
}
