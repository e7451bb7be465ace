import type { LoadProgress, TrainEvent } from "@densessm/lm";

const fmtTime = (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`);

/**
 * Prints training progress for people: a redrawn progress bar on a terminal, plain lines (about
 * twenty per run, plus every evaluation and checkpoint) when the output is a file or a pipe.
 */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (event: TrainEvent) => void {
  const tty = Boolean(stream.isTTY);
  let lineOpen = false;
  const line = (text: string) => {
    if (lineOpen) stream.write("\r\x1b[K");
    stream.write(`${text}\n`);
    lineOpen = false;
  };
  return (e) => {
    switch (e.type) {
      case "start":
        line(`${e.resumed ? "resuming" : "training"} ${e.parameters.toLocaleString("en")} parameters on ${e.backend} from step ${e.step} to ${e.totalSteps} (${e.trainTokens.toLocaleString("en")} training / ${e.validationTokens.toLocaleString("en")} validation tokens, vocabulary ${e.tokenizerSize})`);
        break;
      case "step": {
        const text = `step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${Math.round(e.tokensPerSecond)} tok/s  ETA ${fmtTime(e.etaSeconds)}`;
        if (tty) {
          const width = 24;
          const done = Math.round((e.step / e.totalSteps) * width);
          stream.write(`\r\x1b[K[${"#".repeat(done)}${".".repeat(width - done)}] ${text}`);
          lineOpen = true;
        } else if (e.step % Math.max(1, Math.ceil(e.totalSteps / 20)) === 0 || e.step === e.totalSteps) line(text);
        break;
      }
      case "eval":
        line(`step ${e.step}: validation loss ${e.loss.toFixed(4)}, perplexity ${e.perplexity.toFixed(2)} (per token)`);
        break;
      case "checkpoint":
        line(`step ${e.step}: checkpoint ${e.dir}`);
        break;
    }
  };
}

/** Prints download progress of a model's files to stderr (about every 10%, and at the end). */
export function downloadProgress(stream: NodeJS.WriteStream = process.stderr): (event: LoadProgress) => void {
  const shown = new Map<string, number>();
  return (e) => {
    if (e.status !== "progress" || e.total === undefined || e.total === 0) return;
    const percent = Math.floor((100 * e.loaded) / e.total);
    const last = shown.get(e.file);
    if (last !== undefined && percent < 100 && percent - last < 10) return;
    if (last === 100) return;
    shown.set(e.file, percent);
    stream.write(`downloading ${e.file} ${percent}% (${(e.loaded / 2 ** 20).toFixed(1)} of ${(e.total / 2 ** 20).toFixed(1)} MiB)\n`);
  };
}
