// JSON schemas of the request bodies, checked by Fastify (Ajv) before any handler runs. Fields
// OpenAI defines that this server does not implement are rejected when set to anything but their
// neutral value, rather than silently ignored.

const sampling = {
  model: { type: "string", minLength: 1 },
  max_tokens: { type: ["integer", "null"], minimum: 0 },
  temperature: { type: ["number", "null"], minimum: 0, maximum: 2 },
  top_p: { type: ["number", "null"], exclusiveMinimum: 0, maximum: 1 },
  top_k: { type: ["integer", "null"], minimum: 0, description: "extension (vLLM, llama.cpp): sample from the k most likely tokens; 0 is off" },
  repetition_penalty: { type: ["number", "null"], exclusiveMinimum: 0, description: "extension (vLLM): > 1 discourages tokens already present" },
  frequency_penalty: { type: ["number", "null"], const: 0 },
  presence_penalty: { type: ["number", "null"], const: 0 },
  stop: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, maxItems: 4 }, { type: "null" }] },
  seed: { type: ["integer", "null"] },
  n: { type: ["integer", "null"], minimum: 1, maximum: 128 },
  stream: { type: ["boolean", "null"] },
  stream_options: { anyOf: [{ type: "object", properties: { include_usage: { type: "boolean" } } }, { type: "null" }] },
  ignore_eos: { type: ["boolean", "null"], description: "extension (vLLM): keep generating past the EOS token" },
  user: { type: "string" },
} as const;

export const completionBody = {
  type: "object",
  required: ["model", "prompt"],
  properties: {
    ...sampling,
    prompt: {
      anyOf: [
        { type: "string" },
        { type: "array", minItems: 1, items: { type: "string" } },
        { type: "array", minItems: 1, items: { type: "integer", minimum: 0 } },
        { type: "array", minItems: 1, items: { type: "array", minItems: 1, items: { type: "integer", minimum: 0 } } },
      ],
    },
    echo: { type: ["boolean", "null"] },
    logprobs: { type: ["integer", "null"], minimum: 0, maximum: 5 },
    best_of: { type: ["integer", "null"], const: 1 },
    suffix: { type: "null" },
  },
} as const;

const textPart = { type: "object", required: ["type", "text"], properties: { type: { const: "text" }, text: { type: "string" } } };

export const chatBody = {
  type: "object",
  required: ["model", "messages"],
  properties: {
    ...sampling,
    max_completion_tokens: { type: ["integer", "null"], minimum: 0 },
    messages: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["role", "content"],
        properties: {
          role: { enum: ["system", "developer", "user", "assistant"] },
          content: { anyOf: [{ type: "string" }, { type: "array", items: textPart }] },
          name: { type: "string" },
        },
      },
    },
    logprobs: { type: ["boolean", "null"] },
    top_logprobs: { type: ["integer", "null"], minimum: 0, maximum: 20 },
  },
} as const;

interface Sampling {
  model: string;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  repetition_penalty?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  ignore_eos?: boolean | null;
}

export interface CompletionRequest extends Sampling {
  prompt: string | string[] | number[] | number[][];
  echo?: boolean | null;
  logprobs?: number | null;
}

export interface ChatRequest extends Sampling {
  max_completion_tokens?: number | null;
  messages: { role: string; content: string | { type: "text"; text: string }[] }[];
  logprobs?: boolean | null;
  top_logprobs?: number | null;
}

/** What a field validated by `anyOf` may be, for error messages (array indices written as N). */
export const ALTERNATIVES: Readonly<Record<string, string>> = {
  prompt: "a string, an array of strings, an array of token ids or an array of arrays of token ids",
  stop: "a string or an array of at most 4 strings",
  stream_options: "an object such as {\"include_usage\": true}",
  "messages.N.content": "a string or an array of text parts ({\"type\": \"text\", \"text\": ...})",
};
