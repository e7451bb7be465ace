export { createProgram, main } from "./main.js";
export { forward, formatForward, type ForwardOptions, type ForwardResult } from "./commands/forward.js";
export { CliError } from "./errors.js";
