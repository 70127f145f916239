package localgw

import (
	"crypto/rand"

	"encoding/base64"
	"encoding/hex"
	"fmt"
	smithyrand "github.com/aws/smithy-go/rand"
	"time"
)

// newUUID returns a random (version 4) UUID, the form of API Gateway and
// Lambda request ids, made by the AWS SDK's own generator.
func newUUID() string {
	id, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil { // crypto/rand does not fail on Linux
		panic(err)
	}
	return id
}

// newExtendedID returns an id shaped like API Gateway's extended request id
// (x-amz-apigw-id): 16 base64 characters.
func newExtendedID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// newTraceRoot returns an X-Ray trace header root, "Root=1-{epoch hex}-{96 bits}".
func newTraceRoot(t time.Time) string {
	return fmt.Sprintf("Root=1-%08x-%s", t.Unix(), randomHex(12))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomAlnum(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
