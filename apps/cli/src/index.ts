export { createProgram, main } from "./main.js";
export { forward, formatForward, type ForwardOptions, type ForwardResult } from "./commands/forward.js";
export { loadCausalLM, registerFamily } from "./models.js";
export { CliError } from "./errors.js";
