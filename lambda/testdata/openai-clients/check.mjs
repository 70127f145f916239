// Runs OpenAI's Node clients, unmodified, against streamgate's
// /v1/responses (node check.mjs BASE_URL), each as its docs show, and
// prints what each got as one JSON object for TestResponsesNodeClients.
// Every step catches its own error, so that one failure is reported by
// name and the others still run.
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, tool, stepCountIs } from 'ai';
import { ChatOpenAI } from '@langchain/openai';
import OpenAI from 'openai';
import { z } from 'zod';

const base = process.argv[2];
const apiKey = 'sk-node-clients-0123456789';
const out = {};

async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: `${e.constructor.name}: ${e.message}`, httpStatus: e.status ?? e.statusCode, code: e.code };
  }
}

const weather = { city: z.string() };

// The Vercel AI SDK's default OpenAI provider: openai('model') speaks
// the Responses API.
const openai = createOpenAI({ baseURL: base, apiKey });
await step('aisdkGenerate', async () => {
  const r = await generateText({ model: openai('emulator.fast-v1'), prompt: 'What is streamgate?', maxRetries: 0 });
  return { text: r.text, finishReason: r.finishReason, outputTokens: r.usage.outputTokens };
});
await step('aisdkStream', async () => {
  const r = streamText({ model: openai('emulator.steady-v1'), prompt: 'Stream this answer', maxRetries: 0 });
  let text = '', pieces = 0;
  for await (const t of r.textStream) { text += t; pieces++; }
  return { text, pieces, finishReason: await r.finishReason };
});
await step('aisdkTools', async () => {
  const r = await generateText({
    model: openai('emulator.tools-v1'), prompt: 'What is the weather in Oslo? use get_weather', maxRetries: 0,
    tools: { get_weather: tool({ description: 'The weather in a city', inputSchema: z.object(weather), execute: async ({ city }) => `rain in ${city}` }) },
    stopWhen: stepCountIs(2),
  });
  return { text: r.text, steps: r.steps.length, call: r.steps[0].toolCalls[0]?.input };
});
// A reasoning model's tool loop: without store: false the AI SDK refers to
// the reasoning by id (item_reference), which a stateless gateway refuses
// saying what to set; with it (and the encrypted content included) the
// reasoning goes back whole.
for (const [name, providerOptions] of [['aisdkReasoningDefault', undefined],
  ['aisdkReasoningStoreFalse', { openai: { store: false, include: ['reasoning.encrypted_content'] } }]]) {
  await step(name, async () => {
    const r = await generateText({
      model: openai('emulator.reasoning-v1'), prompt: 'Think, then check the weather in Oslo with get_weather', maxRetries: 0, providerOptions,
      tools: { get_weather: tool({ inputSchema: z.object(weather), execute: async () => 'sunny' }) },
      stopWhen: stepCountIs(2),
    });
    return { text: r.text, steps: r.steps.length, reasoning: r.steps[0].reasoningText };
  });
}

// LangChain's ChatOpenAI on the Responses API.
const lc = new ChatOpenAI({ model: 'emulator.fast-v1', useResponsesApi: true, apiKey, configuration: { baseURL: base }, maxRetries: 0 });
await step('langchainInvoke', async () => {
  const m = await lc.invoke('What is streamgate?');
  return { text: m.text, outputTokens: m.usage_metadata?.output_tokens };
});
await step('langchainStream', async () => {
  const s = new ChatOpenAI({ model: 'emulator.steady-v1', useResponsesApi: true, apiKey, configuration: { baseURL: base }, maxRetries: 0 });
  let text = '', pieces = 0;
  for await (const c of await s.stream('Stream this answer')) { if (c.text) { text += c.text; pieces++; } }
  return { text, pieces };
});

// The OpenAI Node SDK.
const client = new OpenAI({ baseURL: base, apiKey, maxRetries: 0 });
await step('nodeCreate', async () => {
  const r = await client.responses.create({ model: 'emulator.fast-v1', input: 'What is streamgate?' });
  return { text: r.output_text, status: r.status, id: r.id };
});
await step('nodeStream', async () => {
  const s = client.responses.stream({ model: 'emulator.steady-v1', input: 'Stream this answer' });
  const types = [];
  let text = '';
  for await (const ev of s) {
    if (types[types.length - 1] !== ev.type) types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
  }
  const final = await s.finalResponse();
  return { text, types, finalText: final.output_text };
});
await step('nodeTools', async () => {
  const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: false }];
  const input = [{ role: 'user', content: 'What is the weather in Oslo? use get_weather' }];
  const first = await client.responses.create({ model: 'emulator.tools-v1', input, tools });
  const call = first.output.find((i) => i.type === 'function_call');
  input.push(call, { type: 'function_call_output', call_id: call.call_id, output: 'rain' });
  const second = await client.responses.create({ model: 'emulator.tools-v1', input, tools });
  return { arguments: call.arguments, text: second.output_text };
});
await step('nodeError', async () => {
  await client.responses.create({ model: 'gpt-5', input: 'hi' });
  return { error: 'none' };
});
await step('nodeMidstream', async () => {
  let text = '';
  for await (const ev of await client.responses.create({ model: 'emulator.midstream-error-v1', input: 'hi', stream: true })) {
    if (ev.type === 'response.output_text.delta') text += ev.delta;
  }
  return { text, error: 'none' };
});

console.log(JSON.stringify(out));
