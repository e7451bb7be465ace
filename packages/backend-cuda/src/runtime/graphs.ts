import type { CudaDriver, CuGraphExec, CuStream } from "../driver/api.js";

/** Submissions with at least this many kernel launches are worth a CUDA graph. */
const MIN_LAUNCHES = 2;
/** Instantiated graphs kept, least recently used dropped first. */
const MAX_GRAPHS = 32;
/** Instantiated graphs per topology; beyond that the least recently used one is updated in place. */
const MAX_VARIANTS = 8;
/** Topologies remembered while waiting for a repeat. */
const MAX_SEEN = 256;

export interface GraphStats {
  /** Graphs captured and instantiated; captured graphs written into an existing one instead (cuGraphExecUpdate); launches of graphs. */
  instantiated: number;
  updated: number;
  replays: number;
}

interface Entry {
  readonly exec: CuGraphExec;
  readonly topology: string;
}

/**
 * Runs repeated submissions as CUDA graphs. A submission has two keys: its topology (kernels,
 * grids, copy sizes) and its full key (that plus every argument byte and copy address). The
 * first time a topology is seen the work is issued launch by launch. After that it is captured
 * (stream capture records, nothing runs) and launched as one graph: instantiated, or, once a
 * topology has MAX_VARIANTS graphs, written into its least recently used one with
 * cuGraphExecUpdate (new pointers and parameters, same shape). A full key seen before replays its
 * graph with no capture at all. Replaying runs exactly the work the key describes, so a graph run
 * is the same as issuing the launches. A decoding step, whose buffers cycle through a few
 * arrangements, settles at one cuGraphLaunch per token.
 */
export class GraphCache {
  readonly stats: GraphStats = { instantiated: 0, updated: 0, replays: 0 };
  private readonly execs = new Map<string, Entry>();
  private readonly seen = new Map<string, true>();
  /** Topologies the driver would not instantiate: always issued directly. */
  private readonly refused = new Set<string>();

  constructor(
    private readonly driver: CudaDriver,
    private readonly stream: CuStream,
  ) {}

  /**
   * Runs `issue` (which records the submission's launches and copies on the stream) as a graph
   * when its topology was seen before, else directly. Returns whether it ran as a graph.
   */
  run(key: string, topology: string, launches: number, issue: () => void): boolean {
    if (launches < MIN_LAUNCHES || this.refused.has(topology)) {
      issue();
      return false;
    }
    let entry = this.execs.get(key);
    if (entry) this.execs.delete(key); // re-inserted below as the most recently used
    else if (this.seen.has(topology)) {
      entry = this.capture(topology, issue);
      if (!entry) return false;
    } else {
      this.seen.set(topology, true);
      if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value!);
      issue();
      return false;
    }
    this.execs.set(key, entry);
    this.driver.graphLaunch(entry.exec, this.stream);
    this.stats.replays++;
    return true;
  }

  /**
   * Captures `issue` into a graph, and makes it an executable one: an updated variant of its
   * topology, or a new one. If the driver will not instantiate it, the work is issued directly
   * (nothing ran during capture) and undefined returned.
   */
  private capture(topology: string, issue: () => void): Entry | undefined {
    this.driver.streamBeginCapture(this.stream);
    try {
      issue();
    } catch (e) {
      // End the capture so the stream is usable again, then report what failed while recording.
      try {
        this.driver.graphDestroy(this.driver.streamEndCapture(this.stream));
      } catch {
        // the capture was invalidated; the stream has left capture mode
      }
      throw e;
    }
    const graph = this.driver.streamEndCapture(this.stream);
    try {
      const variants = [...this.execs].filter(([, e]) => e.topology === topology);
      if (variants.length >= MAX_VARIANTS) {
        const [oldKey, old] = variants[0]!;
        this.execs.delete(oldKey);
        if (this.driver.graphExecUpdate(old.exec, graph)) {
          this.stats.updated++;
          return old;
        }
        this.driver.graphExecDestroy(old.exec);
      }
      let exec: CuGraphExec;
      try {
        exec = this.driver.graphInstantiate(graph);
      } catch {
        this.refused.add(topology);
        issue();
        return undefined;
      }
      const entry = { exec, topology };
      this.stats.instantiated++;
      if (this.execs.size >= MAX_GRAPHS) {
        const [oldest, old] = this.execs.entries().next().value!;
        this.execs.delete(oldest);
        this.driver.graphExecDestroy(old.exec);
      }
      return entry;
    } finally {
      this.driver.graphDestroy(graph);
    }
  }

  dispose(): void {
    for (const { exec } of this.execs.values()) this.driver.graphExecDestroy(exec);
    this.execs.clear();
    this.seen.clear();
  }
}
