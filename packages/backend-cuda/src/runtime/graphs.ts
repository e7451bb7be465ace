import type { CudaDriver, CuGraphExec, CuStream } from "../driver/api.js";

/** Submissions with at least this many kernel launches are worth a CUDA graph. */
const MIN_LAUNCHES = 2;
/** Instantiated graphs kept (a decode loop alternates between two or three; LRU beyond). */
const MAX_GRAPHS = 16;
/** Distinct submissions remembered while waiting for a repeat. */
const MAX_SEEN = 256;

export interface GraphStats {
  /** Graphs captured and instantiated, and launches of them. */
  captured: number;
  replays: number;
}

/**
 * Captures repeated submissions into CUDA graphs. A submission is keyed by everything its launches
 * and copies read — kernel, argument bytes (device addresses included), grid, copy ends — so a
 * graph is replayed only for work identical to what it captured, which is exactly what launching
 * that work again would do. The first time a key is seen the work is issued launch by launch; the
 * second time it is captured, instantiated and launched; from then on it is one cuGraphLaunch.
 * A decoding step (the same graph run on the same buffers every token) becomes one launch.
 */
export class GraphCache {
  readonly stats: GraphStats = { captured: 0, replays: 0 };
  private readonly execs = new Map<string, CuGraphExec>();
  private readonly seen = new Map<string, true>();
  private readonly refused = new Set<string>();

  constructor(
    private readonly driver: CudaDriver,
    private readonly stream: CuStream,
  ) {}

  /**
   * Runs `issue` (which records the submission's launches and copies on the stream): as a graph
   * when `key` was seen before, else directly. Returns whether it ran as a graph.
   */
  run(key: string, launches: number, issue: () => void): boolean {
    if (launches < MIN_LAUNCHES || this.refused.has(key)) {
      issue();
      return false;
    }
    let exec = this.execs.get(key);
    if (exec !== undefined) {
      this.execs.delete(key); // most recently used goes last
      this.execs.set(key, exec);
    } else if (this.seen.has(key)) {
      exec = this.capture(key, issue);
      if (exec === undefined) return false;
    } else {
      this.remember(key);
      issue();
      return false;
    }
    this.driver.graphLaunch(exec, this.stream);
    this.stats.replays++;
    return true;
  }

  private remember(key: string): void {
    this.seen.set(key, true);
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value!);
  }

  private capture(key: string, issue: () => void): CuGraphExec | undefined {
    this.seen.delete(key);
    this.driver.streamBeginCapture(this.stream);
    try {
      issue();
    } catch (e) {
      // End the capture so the stream is usable, then report what failed while recording.
      try {
        this.driver.graphDestroy(this.driver.streamEndCapture(this.stream));
      } catch {
        // the capture was already invalidated; the stream has left capture mode
      }
      throw e;
    }
    const graph = this.driver.streamEndCapture(this.stream);
    let exec: CuGraphExec;
    try {
      exec = this.driver.graphInstantiate(graph);
    } catch {
      // Nothing ran during capture: issue the work directly, and never try this key again.
      this.refused.add(key);
      issue();
      return undefined;
    } finally {
      this.driver.graphDestroy(graph);
    }
    this.stats.captured++;
    this.execs.set(key, exec);
    if (this.execs.size > MAX_GRAPHS) {
      const [oldest, old] = this.execs.entries().next().value!;
      this.execs.delete(oldest);
      this.driver.graphExecDestroy(old);
    }
    return exec;
  }

  dispose(): void {
    for (const exec of this.execs.values()) this.driver.graphExecDestroy(exec);
    this.execs.clear();
    this.seen.clear();
  }
}
