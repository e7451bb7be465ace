import { DenseSSMError } from "../errors.js";

export type Decay = "constant" | "linear" | "cosine" | "polynomial";

export interface ScheduleOptions {
  peakLr: number;
  /** Steps of linear warmup from 0 to peakLr. */
  warmupSteps?: number;
  /** Total steps; decay ends here at minLr. */
  totalSteps: number;
  decay?: Decay;
  minLr?: number;
  /** Exponent of the polynomial decay (1 is linear). */
  power?: number;
}

/** A learning-rate schedule: linear warmup, then constant, linear, cosine or polynomial decay. */
export function learningRateSchedule(options: ScheduleOptions): (step: number) => number {
  const { peakLr, totalSteps } = options;
  const warmup = options.warmupSteps ?? 0;
  const minLr = options.minLr ?? 0;
  const decay = options.decay ?? "cosine";
  const power = options.power ?? 1;
  if (!(peakLr > 0) || !(totalSteps > 0) || warmup < 0 || warmup > totalSteps) {
    throw new DenseSSMError(`learning-rate schedule: need peakLr > 0 and 0 <= warmupSteps (${warmup}) <= totalSteps (${totalSteps})`);
  }
  return (step: number) => {
    if (step < warmup) return (peakLr * (step + 1)) / warmup;
    const progress = Math.min(1, (step - warmup) / Math.max(1, totalSteps - warmup));
    switch (decay) {
      case "constant":
        return peakLr;
      case "linear":
        return minLr + (peakLr - minLr) * (1 - progress);
      case "polynomial":
        return minLr + (peakLr - minLr) * (1 - progress) ** power;
      case "cosine":
        return minLr + (peakLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
  };
}
