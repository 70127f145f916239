// Drives the Bedrock emulator with the Node AWS SDK v3, whose
// bedrock-runtime client sends every request over HTTP/2
// (NodeHttp2Handler; h2c with prior knowledge against an http:// URL).
//
// Usage: NODE_PATH=.../node_modules node node_client.js ENDPOINT_URL
// Prints one JSON object with what the SDK read; the Go test judges it.
"use strict";
const {
  BedrockRuntimeClient,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
} = require("@aws-sdk/client-bedrock-runtime");

const client = new BedrockRuntimeClient({
  region: "us-east-1",
  endpoint: process.argv[2],
  credentials: { accessKeyId: "AKID", secretAccessKey: "SECRET" },
  maxAttempts: 1,
});

async function main() {
  const out = {};

  const converse = await client.send(new ConverseStreamCommand({
    modelId: "emulator.fast-v1",
    messages: [{ role: "user", content: [{ text: "node over h2" }] }],
  }));
  const c = { text: "", deltas: 0 };
  for await (const ev of converse.stream) {
    if (ev.contentBlockDelta) { c.text += ev.contentBlockDelta.delta.text; c.deltas++; }
    if (ev.messageStop) c.stopReason = ev.messageStop.stopReason;
    if (ev.metadata) c.usage = ev.metadata.usage;
  }
  out.converseStream = c;

  const tools = await client.send(new ConverseStreamCommand({
    modelId: "emulator.tools-v1",
    messages: [{ role: "user", content: [{ text: "node calls get_weather" }] }],
    toolConfig: { tools: [{ toolSpec: { name: "get_weather", inputSchema: { json: {
      type: "object", properties: { city: { type: "string" } }, required: ["city"],
    } } } }] },
  }));
  const t = { input: "", fragments: 0 };
  for await (const ev of tools.stream) {
    if (ev.contentBlockStart) { t.id = ev.contentBlockStart.start.toolUse.toolUseId; t.name = ev.contentBlockStart.start.toolUse.name; }
    if (ev.contentBlockDelta) { t.input += ev.contentBlockDelta.delta.toolUse.input; t.fragments++; }
    if (ev.messageStop) t.stopReason = ev.messageStop.stopReason;
  }
  out.toolUse = t;

  const invoke = await client.send(new InvokeModelWithResponseStreamCommand({
    modelId: "emulator.fast-v1",
    contentType: "application/json",
    accept: "application/json",
    body: JSON.stringify({
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 50,
      messages: [{ role: "user", content: "node streams chunks" }],
    }),
  }));
  const i = { text: "", types: [] };
  for await (const ev of invoke.body) {
    if (!ev.chunk) continue;
    const chunk = JSON.parse(Buffer.from(ev.chunk.bytes).toString("utf8"));
    i.types.push(chunk.type);
    if (chunk.type === "content_block_delta") i.text += chunk.delta.text;
    if (chunk.type === "message_delta") i.stopReason = chunk.delta.stop_reason;
  }
  out.invokeStream = i;

  console.log(JSON.stringify(out));
}

main()
  .catch((err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exitCode = 1;
  })
  .finally(() => client.destroy());
