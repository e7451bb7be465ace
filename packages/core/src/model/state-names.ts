// One naming scheme for recurrent state across every family and runtime: a state named `conv.0`
// enters a graph as `past_conv.0` and leaves it as `present_conv.0` (transformers.js's names, so
// exported ONNX models keep them unchanged).

export const pastName = (state: string): string => `past_${state}`;
export const presentName = (state: string): string => `present_${state}`;
