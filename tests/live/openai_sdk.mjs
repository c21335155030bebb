// The official OpenAI Node SDK against servesim live: streamed and whole chat completions and
// completions. Prints a JSON line {"requests": N} when every check passed; exits 1 otherwise.
import OpenAI from "openai";
import assert from "node:assert/strict";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused", maxRetries: 0 });
let requests = 0;

const models = await client.models.list();
assert.equal(models.data[0].id, "llama-3.1-8b");

const chat = await client.chat.completions.create({
  model: "llama-3.1-8b", messages: [{ role: "user", content: "Hello from Node" }], max_tokens: 6,
});
requests++;
assert.equal(chat.object, "chat.completion");
assert.equal(chat.usage.completion_tokens, 6);
assert.equal(chat.choices[0].finish_reason, "length");

const stream = await client.chat.completions.create({
  model: "llama-3.1-8b", messages: [{ role: "user", content: "Stream to me" }], max_tokens: 9, stream: true,
  stream_options: { include_usage: true },
});
requests++;
let tokens = 0, role = null, finish = null, usage = null;
for await (const chunk of stream) {
  assert.equal(chunk.object, "chat.completion.chunk");
  if (chunk.usage) usage = chunk.usage;
  if (chunk.choices.length === 0) continue;
  const d = chunk.choices[0].delta;
  if (d.role) role = d.role;
  if (d.content) tokens++;
  if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
}
assert.equal(role, "assistant");
assert.equal(tokens, 9);
assert.equal(finish, "length");
assert.equal(usage.completion_tokens, 9);
assert.equal(usage.total_tokens, usage.prompt_tokens + 9);

const completion = await client.completions.create({ model: "llama-3.1-8b", prompt: [1, 2, 3, 4, 5], max_tokens: 3 });
requests++;
assert.equal(completion.usage.prompt_tokens, 5);  // token ids count exactly
assert.equal(completion.choices[0].text.trim().split(/\s+/).length, 3);

const cstream = await client.completions.create({ model: "llama-3.1-8b", prompt: "Once upon", max_tokens: 4, stream: true });
requests++;
let ctoks = 0;
for await (const chunk of cstream) if (chunk.choices[0]?.text) ctoks++;
assert.equal(ctoks, 4);

try {
  await client.completions.create({ model: "nope", prompt: "x" });
  assert.fail("an unknown model must be an error");
} catch (e) {
  assert.equal(e.status, 404);
  assert.equal(e.code, "model_not_found");
}
console.log(JSON.stringify({ requests }));
