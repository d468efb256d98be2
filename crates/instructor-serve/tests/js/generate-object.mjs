// The Vercel AI SDK against `instructor serve`: generateObject on the default OpenAI provider,
// `openai(model)`, which speaks the Responses API (POST /v1/responses).
//
// Usage: node generate-object.mjs BASE_URL MODEL      (BASE_URL ends in /v1)
// Prints the object as JSON; exits non-zero unless it is {name: 'Jason', age: 20} and every
// request went to /v1/responses.
import { createOpenAI } from '@ai-sdk/openai';
import { generateObject } from 'ai';
import { z } from 'zod';

const [baseURL, modelId] = process.argv.slice(2);
if (!baseURL || !modelId) {
  console.error('usage: node generate-object.mjs BASE_URL MODEL');
  process.exit(2);
}

// Every path the provider asks for, to check that the default provider uses the Responses API.
const paths = [];
const openai = createOpenAI({
  baseURL,
  apiKey: 'unused',
  fetch: (input, init) => {
    paths.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
    return fetch(input, init);
  },
});

const started = performance.now();
const { object, finishReason, usage } = await generateObject({
  model: openai(modelId),
  schema: z.object({ name: z.string(), age: z.number().int() }),
  system: 'You are a world class extractor',
  prompt: 'Extract the following entities: "Jason is 20"',
});
const seconds = ((performance.now() - started) / 1000).toFixed(1);

console.log(JSON.stringify(object));
const problems = [];
if (object.name !== 'Jason' || object.age !== 20) problems.push(`got ${JSON.stringify(object)}`);
if (paths.length === 0 || paths.some((p) => !p.endsWith('/responses'))) {
  problems.push(`requests went to ${JSON.stringify(paths)}, not /v1/responses`);
}
if (problems.length) {
  console.log(`FAIL Vercel AI SDK: generateObject on openai(model): ${problems.join('; ')} (${seconds} s)`);
  process.exit(1);
}
console.log(
  `PASS Vercel AI SDK: generateObject on openai(model) via ${paths.join(', ')}: ${JSON.stringify(object)}, ` +
    `finish ${finishReason}, usage ${usage.inputTokens}+${usage.outputTokens} (${seconds} s)`,
);
