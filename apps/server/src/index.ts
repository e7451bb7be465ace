// @densessm/server: `densessm serve`, an OpenAI-compatible HTTP server over DenseSSM.js models.
// The engine (continuous batching, prefix-state cache) is usable without HTTP.
export { serve, type Listening, type ServeOptions } from "./serve.js";
export { createServer, type DenseSSMServer, type ServerOptions } from "./server.js";
export { Engine, EngineBusyError, EngineClosedError, type EngineOptions, type FinishReason, type JobEvent, type JobSpec } from "./engine/engine.js";
export { PrefixCache } from "./engine/prefix-cache.js";
export { ChatTemplate, PLAIN_TEMPLATE_STOP, type ChatMessage, type RenderedChat } from "./chat-template.js";
export { ApiError } from "./errors.js";
export { Metrics, renderMetrics, type Gauges } from "./metrics.js";
