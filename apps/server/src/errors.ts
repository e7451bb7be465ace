/**
 * An error answered in OpenAI's shape, `{ "error": { "message", "type", "param", "code" } }`, with
 * its HTTP status: what the `openai` client turns into BadRequestError, NotFoundError, ...
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  get body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, "invalid_request_error", code, param);

export const modelNotFound = (model: string) => new ApiError(404, `The model \`${model}\` does not exist (this server serves one model; GET /v1/models lists it)`, "invalid_request_error", "model_not_found", "model");

export const promptTooLong = (tokens: number, limit: number) =>
  new ApiError(413, `The prompt is ${tokens} tokens long; this server takes at most ${limit} (--max-prompt-tokens)`, "invalid_request_error", "context_length_exceeded", "prompt");

export const serverError = () => new ApiError(500, "The server failed while processing this request (the error is in its log); other requests are unaffected", "server_error", "internal_error");
