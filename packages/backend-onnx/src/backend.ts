import {
  BackendError,
  byteSize,
  PRIMITIVE_NAMES,
  Tensor,
  type Backend,
  type DeviceTensor,
  type DType,
  type Executable,
  type Graph,
  type MemoryInfo,
} from "@densessm/core";
import type { InferenceSession, Tensor as OrtTensor } from "onnxruntime-common";
import { LOWERED_OPS, lowerGraph, wireDType, type LoweredModel } from "./lower/graph.js";
import { bakeableParameters } from "./lower/quant.js";
import { encodeModel } from "./onnx/model.js";
import type { OrtRuntime } from "./runtime.js";

/** A tensor held by onnxruntime; bfloat16 travels as float32 (see `wireDType`). */
export class OnnxTensor implements DeviceTensor {
  constructor(
    readonly value: OrtTensor,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {}
}

export interface OnnxBackendOptions {
  /** Registered name (default "onnx"). */
  readonly name?: string;
  /** Intra-op threads (default: onnxruntime's choice, one per physical core). */
  readonly threads?: number;
  /**
   * The same bits on every run: one intra-op thread. Some of onnxruntime's multi-threaded kernels
   * combine partial sums in an order that varies from run to run (two trainings of the default
   * model differ from the first loss on); measured on 2 cores, 12 training steps of the default
   * model took 1.4x as long with one thread.
   */
  readonly deterministic?: boolean;
}

/** FNV-1a over the model bytes: the key of the compiled-session cache (bytes are compared too). */
function fingerprint(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return `${bytes.length}:${(h >>> 0).toString(16)}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface CachedSession {
  readonly bytes: Uint8Array;
  readonly session: Promise<InferenceSession>;
  users: number;
}

/** Maps onnxruntime's "running <Op> node. Name:'n12_gather'" back to the IR node. */
function backendError(e: unknown, backend: string): BackendError {
  const message = e instanceof Error ? e.message : String(e);
  const at = /Name:'n(\d+)_([A-Za-z0-9]+)'/.exec(message);
  const where = at ? `node %${at[1]} (${at[2]}): ` : "";
  const range = /out of (data )?bounds|out of range|invalid indices/i.test(message) ? "index out of range: " : "";
  return new BackendError(`${backend}: ${where}${range}${message.split("\n")[0]}`);
}

/**
 * Runs graphs on onnxruntime: each compiled graph is lowered to one ONNX model (every op, forward
 * and backward alike, since the backward pass is just more graph) and becomes an InferenceSession.
 * Parameters are graph inputs, so one session serves every training step and parameter updates
 * cost nothing but the feed; identical graphs share one session.
 */
export class OnnxBackend implements Backend {
  readonly name: string;
  readonly capabilities = { ops: new Set<string>([...PRIMITIVE_NAMES, ...LOWERED_OPS]), dtypes: ["float32", "float16", "bfloat16", "int32", "int8", "uint8"] as const };
  private readonly sessions = new Map<string, CachedSession[]>();
  private readonly stats = { live: 0, peak: 0 };
  private readonly counted = new WeakSet<OnnxTensor>();

  constructor(
    readonly runtime: OrtRuntime,
    private readonly options: OnnxBackendOptions = {},
  ) {
    this.name = options.name ?? "onnx";
  }

  /** The ONNX model a graph compiles to (for inspection and exports). */
  lower(graph: Graph): LoweredModel {
    return lowerGraph(graph);
  }

  async compile(graph: Graph): Promise<Executable> {
    const baked = bakeableParameters(graph.nodes);
    if (baked.length) return this.bakingExecutable(graph, baked);
    const lowered = lowerGraph(graph);
    const bytes = encodeModel(lowered.model);
    const entry = this.acquire(bytes);
    let session: InferenceSession;
    try {
      session = await entry.session;
    } catch (e) {
      this.releaseSession(bytes, entry);
      throw backendError(e, `${this.name}: compiling the graph failed`);
    }
    return this.executable(lowered, session, () => this.releaseSession(bytes, entry));
  }

  /**
   * A graph with quantized products of parameters: onnxruntime prepacks such weights only when
   * they are initializers, so the model is built at the first run, with the fed codes and scales
   * baked in, and rebuilt if different tensors are fed for them later. Such models hold the
   * weights, so they are not kept in the shared session cache (whose key is the model's bytes).
   */
  private bakingExecutable(graph: Graph, baked: readonly string[]): Executable {
    let current: { feeds: DeviceTensor[]; exe: Executable } | undefined;
    const build = async (feeds: ReadonlyMap<string, DeviceTensor>) => {
      const initializers = new Map(baked.map((name) => {
        const fed = feeds.get(name);
        if (!(fed instanceof OnnxTensor)) throw new BackendError(`${this.name}: "${name}" was not fed a tensor of this backend`);
        return [name, new Tensor(fed.value.data as Tensor["data"], fed.shape, fed.dtype)] as const;
      }));
      const lowered = lowerGraph(graph, { initializers });
      let session: InferenceSession;
      try {
        session = await this.runtime.InferenceSession.create(encodeModel(lowered.model), this.sessionOptions());
      } catch (e) {
        throw backendError(e, `${this.name}: compiling the graph failed`);
      }
      return this.executable(lowered, session, () => void session.release().catch(() => undefined));
    };
    return {
      run: async (feeds) => {
        const fed = baked.map((name) => feeds.get(name)!);
        if (!current || current.feeds.some((t, i) => t !== fed[i])) {
          current?.exe.dispose();
          current = undefined;
          current = { feeds: fed, exe: await build(feeds) };
        }
        return current.exe.run(feeds);
      },
      dispose: () => current?.exe.dispose(),
    };
  }

  private sessionOptions(): InferenceSession.SessionOptions {
    const threads = this.options.deterministic ? 1 : this.options.threads;
    return { executionProviders: [...this.runtime.executionProviders], graphOptimizationLevel: "all", logSeverityLevel: 4, ...(threads ? { intraOpNumThreads: threads } : {}) };
  }

  private acquire(bytes: Uint8Array): CachedSession {
    const key = fingerprint(bytes);
    const list = this.sessions.get(key) ?? [];
    let entry = list.find((c) => sameBytes(c.bytes, bytes));
    if (!entry) {
      const session = this.runtime.InferenceSession.create(bytes, this.sessionOptions());
      entry = { bytes, session, users: 0 };
      list.push(entry);
      this.sessions.set(key, list);
    }
    entry.users++;
    return entry;
  }

  private releaseSession(bytes: Uint8Array, entry: CachedSession): void {
    if (--entry.users > 0) return;
    const key = fingerprint(bytes);
    const list = (this.sessions.get(key) ?? []).filter((c) => c !== entry);
    if (list.length) this.sessions.set(key, list);
    else this.sessions.delete(key);
    entry.session.then((s) => s.release()).catch(() => undefined);
  }

  private executable(lowered: LoweredModel, session: InferenceSession, onDispose: () => void): Executable {
    const backend = { name: this.name, track: (t: OnnxTensor) => this.track(t) };
    let disposed = false;
    return {
      async run(feeds) {
        if (disposed) throw new BackendError(`${backend.name}: run() after dispose()`);
        const ortFeeds: Record<string, OrtTensor> = {};
        for (const b of lowered.inputs) {
          const fed = feeds.get(b.name);
          if (!(fed instanceof OnnxTensor)) throw new BackendError(`${backend.name}: "${b.name}" was not fed a tensor of this backend (got ${fed === undefined ? "nothing" : fed.constructor.name})`);
          ortFeeds[b.onnxName] = fed.value;
        }
        for (const check of lowered.indexChecks) {
          const idx = (feeds.get(check.feed) as OnnxTensor).value.data as Int32Array;
          for (let i = 0; i < idx.length; i++) {
            const v = idx[i]!;
            if (v < 0 || v >= check.axisSize) throw new BackendError(`${backend.name}: node %${check.nodeId} (gather): index ${v} (position ${i} of "${check.feed}") is out of range for an axis of size ${check.axisSize}`);
          }
        }
        let results: InferenceSession.ReturnType;
        try {
          results = await session.run(ortFeeds);
        } catch (e) {
          throw backendError(e, backend.name);
        }
        const out = new Map<string, DeviceTensor>();
        for (const b of lowered.outputs) out.set(b.name, backend.track(new OnnxTensor(results[b.onnxName]!, b.shape, b.dtype)));
        return out;
      },
      dispose() {
        if (disposed) return;
        disposed = true;
        onDispose();
      },
    };
  }

  private track(t: OnnxTensor): OnnxTensor {
    this.counted.add(t);
    this.stats.live += t.value.size * byteSize(wireDType(t.dtype) === "float32" ? "float32" : t.dtype);
    this.stats.peak = Math.max(this.stats.peak, this.stats.live);
    return t;
  }

  upload(tensor: Tensor): DeviceTensor {
    // float32, int32 and float16 are handed over without a copy; bfloat16 widens to float32.
    const wire = tensor.dtype === "bfloat16" ? "float32" : tensor.dtype;
    const data = wire === tensor.dtype ? tensor.data : tensor.to("float32").data;
    return this.track(new OnnxTensor(new this.runtime.Tensor(wire, data, tensor.shape), tensor.shape, tensor.dtype));
  }

  async download(t: DeviceTensor): Promise<Tensor> {
    if (!(t instanceof OnnxTensor)) throw new BackendError(`${this.name}: download() was given a tensor from another backend`);
    const data = t.value.data;
    if (t.dtype === "bfloat16") return new Tensor(data as Float32Array, t.shape, "float32").to("bfloat16");
    return new Tensor(data as Tensor["data"], t.shape, t.dtype);
  }

  release(t: DeviceTensor): void {
    if (!(t instanceof OnnxTensor) || !this.counted.has(t)) return;
    this.counted.delete(t);
    this.stats.live -= t.value.size * byteSize(wireDType(t.dtype) === "float32" ? "float32" : t.dtype);
  }

  memory(): MemoryInfo {
    return { liveBytes: this.stats.live, peakBytes: this.stats.peak };
  }

  dispose(): void {
    for (const list of this.sessions.values()) for (const c of list) c.session.then((s) => s.release()).catch(() => undefined);
    this.sessions.clear();
  }
}
