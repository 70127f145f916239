package emulator

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
)

// CodeMinDeltas is the fewest deltas emulator.code-v1's natural answer
// has, for any prompt: a benchmark that asks for up to this many with
// maxTokens gets exactly that many.
const CodeMinDeltas = 1200

// codeMaxDeltas bounds the natural length of a code-v1 answer (it may
// end a little past it, to close its last section).
const codeMaxDeltas = 1800

// codeAnswer renders emulator.code-v1's answer for prompt: what a real
// model's answer with code looks like on the wire. Markdown prose with
// `inline code` and "quoted" words, headings, lists, and fenced code
// blocks in Go, Python, shell, JSON and JavaScript with tab and space
// indentation, string literals holding quotes, backslash escapes and
// non-ASCII text, and operators such as <-, && and -> (which Bedrock's
// JSON, like encoding/json, may send as \u escapes). Cut into word-ish
// pieces as a model streams them (codePieces): up to three words, a piece
// that ends a line carrying its newline and the next line's indentation. Most pieces therefore need a
// JSON escape (a quote, a backslash, a newline or a tab), as most deltas
// of a real answer with code do. Like naturalAnswer it is a pure function
// of the prompt: CodeMinDeltas to about codeMaxDeltas pieces.
func codeAnswer(prompt string) []string {
	h := fnv.New64a()
	h.Write([]byte(prompt))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	target := CodeMinDeltas + int(seed%uint64(codeMaxDeltas-CodeMinDeltas+1))

	word := func() string { return vocabulary[rng.IntN(len(vocabulary))] }
	var b strings.Builder
	sentence := func(words int) {
		for i := range words {
			w := word()
			switch {
			case i == 0:
				w = capitalize(w)
			case rng.IntN(9) == 0:
				w = "`" + w + "()`"
			case rng.IntN(11) == 0:
				w = `"` + w + `"`
			case i < words-1 && rng.IntN(13) == 0:
				w += ","
			}
			b.WriteString(w)
			if i < words-1 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(".")
	}
	paragraph := func() {
		sentence(6 + rng.IntN(8))
		b.WriteString("\n\n")
	}

	paragraph()
	pieces := 0
	for section := 1; ; section++ {
		b.WriteString("### Step " + strconv.Itoa(section) + ": " + capitalize(word()) + " the " + word() + "\n\n")
		paragraph()
		tmpl := codeTemplates[rng.IntN(len(codeTemplates))]
		name, other := word(), word()
		b.WriteString(strings.NewReplacer(
			"{name}", name, "{Name}", capitalize(name), "{other}", other, "{n}", strconv.Itoa(2+rng.IntN(97)),
		).Replace(tmpl))
		b.WriteString("\n\n")
		for range 1 + rng.IntN(3) {
			b.WriteString("- ")
			sentence(3 + rng.IntN(5))
			b.WriteString("\n")
		}
		b.WriteString("\n")
		if pieces = len(codePieces(b.String())); pieces >= target {
			break
		}
	}
	b.WriteString("That is all: run it, and tell me what you see ✓")
	return codePieces(b.String())
}

// codePieces cuts text into deltas as a model streams them: up to three
// words with the white space after each, a piece ending where a line
// does (with the newline and the next line's indentation).
func codePieces(text string) []string {
	var pieces []string
	start, words := 0, 0
	for _, w := range echoWords.FindAllStringIndex(text, -1) {
		words++
		if words == 3 || strings.ContainsRune(text[w[0]:w[1]], '\n') {
			pieces = append(pieces, text[start:w[1]])
			start, words = w[1], 0
		}
	}
	if start < len(text) {
		pieces = append(pieces, text[start:])
	}
	return pieces
}

// codeTemplates are the code blocks of code-v1's answers. {name}, {Name},
// {other} and {n} are replaced by words and a number; the rest is sent as
// written: tabs in Go, spaces elsewhere, quotes, backslashes and
// non-ASCII text in string literals and comments.
var codeTemplates = [...]string{
	"```go\n" +
		"// {name} reads each line of r and sends it on out — até logo, señor.\n" +
		"func {name}(r io.Reader, out chan<- string) error {\n" +
		"\tsc := bufio.NewScanner(r)\n" +
		"\tfor sc.Scan() {\n" +
		"\t\tline := strings.TrimSpace(sc.Text())\n" +
		"\t\tif line == \"\" && len(line) < {n} {\n" +
		"\t\t\tcontinue\n" +
		"\t\t}\n" +
		"\t\tout <- fmt.Sprintf(\"%q\\t→ %s\\n\", line, \"{other}\")\n" +
		"\t}\n" +
		"\treturn sc.Err()\n" +
		"}\n" +
		"```",
	"```python\n" +
		"def {name}(path: str) -> dict[str, int]:\n" +
		"    \"\"\"Count the words of {other} in path (UTF-8, naïve split).\"\"\"\n" +
		"    counts = {}\n" +
		"    with open(path, encoding=\"utf-8\") as f:\n" +
		"        for line in f:\n" +
		"            for w in line.rstrip(\"\\n\").split(\"\\t\"):\n" +
		"                counts[w] = counts.get(w, 0) + 1  # ≥ {n} times?\n" +
		"    return {k: v for k, v in counts.items() if v > {n} and k != '{other}'}\n" +
		"```",
	"```sh\n" +
		"#!/usr/bin/env bash\n" +
		"set -euo pipefail\n" +
		"for f in ./{name}/*.txt; do\n" +
		"  printf '%s\\t%d\\n' \"$f\" \"$(wc -l < \"$f\")\" && echo \"{other}: ok ✓\"\n" +
		"done | sort -k2 -n | tail -{n} > \"C:\\\\temp\\\\{Name}.log\" 2>&1\n" +
		"```",
	"```json\n" +
		"{\n" +
		"  \"name\": \"{name}\",\n" +
		"  \"description\": \"The \\\"{other}\\\" step — déjà vu, 日本語\",\n" +
		"  \"path\": \"C:\\\\Users\\\\{Name}\\\\config.json\",\n" +
		"  \"pattern\": \"^\\\\d{3}\\\\s+\\\\w+$\",\n" +
		"  \"limits\": {\"max\": {n}, \"enabled\": true}\n" +
		"}\n" +
		"```",
	"```js\n" +
		"export async function {name}(url) {\n" +
		"  const res = await fetch(url, { headers: { \"Accept\": \"text/event-stream\" } });\n" +
		"  if (!res.ok && res.status !== {n}) throw new Error(`{other} failed: ${res.status}`);\n" +
		"  const text = await res.text();\n" +
		"  return text.split(\"\\n\").filter((l) => l.startsWith(\"data: \")).map((l) => l.slice(6)); // 🚀\n" +
		"}\n" +
		"```",
}
