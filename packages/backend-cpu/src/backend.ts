import {
  allocate,
  BackendError,
  byteSize,
  DenseSSMError,
  foldTransposes,
  planBuffers,
  Tensor,
  type AnyStorage,
  type Backend,
  type Capabilities,
  type DeviceTensor,
  type DType,
  type Executable,
  type Graph,
  type MemoryInfo,
} from "@densessm/core";
import { KERNELS, type CompiledKernel } from "./kernels/index.js";

/** Recycles output buffers by exact dtype and length, and keeps the backend's byte counts. */
class BufferPool {
  private free = new Map<string, AnyStorage[]>();

  constructor(private readonly stats: { live: number; peak: number }) {}

  take(dtype: DType, length: number): AnyStorage {
    const list = this.free.get(`${dtype}:${length}`);
    const reused = list?.pop();
    if (reused) return reused;
    this.stats.live += length * byteSize(dtype);
    this.stats.peak = Math.max(this.stats.peak, this.stats.live);
    return allocate(dtype, length);
  }

  give(dtype: DType, buffer: AnyStorage): void {
    const key = `${dtype}:${buffer.length}`;
    const list = this.free.get(key) ?? [];
    list.push(buffer);
    this.free.set(key, list);
  }

  /** Forgets a buffer that left the pool for good (an output handed to the caller). */
  disown(dtype: DType, length: number): void {
    this.stats.live -= length * byteSize(dtype);
  }

  clear(): void {
    for (const [key, list] of this.free) {
      const dtype = key.slice(0, key.indexOf(":")) as DType;
      for (const b of list) this.stats.live -= b.length * byteSize(dtype);
    }
    this.free.clear();
  }
}

const ALL_OPS = new Set(Object.keys(KERNELS));

/**
 * The reference backend: every primitive (and the hot composites, fused) as loops over typed
 * arrays. Deterministic: the same graph and inputs give the same bits on every run.
 */
export class CpuBackend implements Backend {
  readonly name = "cpu";
  readonly capabilities: Capabilities = { ops: ALL_OPS, dtypes: ["float32", "float16", "bfloat16", "int32", "int8", "uint8"] };
  private readonly stats = { live: 0, peak: 0 };

  async compile(lowered: Graph): Promise<Executable> {
    const graph = foldTransposes(lowered);
    const { nodes } = graph;
    const kernels: (CompiledKernel | undefined)[] = nodes.map((node) => {
      if (node.op === "input" || node.op === "param" || node.op === "const") return undefined;
      const factory = KERNELS[node.op];
      if (!factory) throw new BackendError(`cpu: no kernel for op "${node.op}" (the graph was not lowered for this backend)`);
      return factory(node, node.inputs.map((i) => nodes[i]!));
    });
    const plan = planBuffers(graph, (n) => n.op === "reshape");
    const pool = new BufferPool(this.stats);

    return {
      async run(feeds) {
        const values: Tensor[] = new Array(nodes.length);
        for (const node of nodes) {
          const kernel = kernels[node.id];
          if (!kernel) {
            if (node.op === "const") values[node.id] = node.attrs.value as Tensor;
            else {
              const name = node.attrs.name as string;
              const fed = feeds.get(name);
              if (!(fed instanceof Tensor)) throw new BackendError(`cpu: ${node.op} "${name}" was not fed a cpu tensor`);
              values[node.id] = fed;
            }
            continue;
          }
          try {
            values[node.id] = kernel(
              node.inputs.map((i) => values[i]!),
              (dtype, length) => pool.take(dtype, length),
            );
          } catch (e) {
            if (e instanceof DenseSSMError) throw new BackendError(`cpu: node %${node.id} (${node.op}): ${e.message}`);
            throw e;
          }
          for (const storage of plan.releaseAfter[node.id]!) {
            const t = values[storage]!;
            pool.give(t.dtype, t.data);
          }
        }
        const out = new Map<string, DeviceTensor>();
        for (const o of graph.outputs) {
          const t = values[o.id]!;
          const source = nodes[plan.storageOf[o.id]!]!.op;
          const owned = source !== "input" && source !== "param" && source !== "const";
          // Outputs never alias a feed: callers may release or mutate what they fed.
          out.set(o.name, owned ? t : t.clone());
          if (owned) pool.disown(t.dtype, t.data.length);
        }
        return out;
      },
      dispose() {
        pool.clear();
      },
    };
  }

  upload(tensor: Tensor): DeviceTensor {
    return tensor;
  }

  async download(tensor: DeviceTensor): Promise<Tensor> {
    if (!(tensor instanceof Tensor)) throw new BackendError("cpu: download() was given a tensor from another backend");
    return tensor;
  }

  release(_tensor: DeviceTensor): void {
    // Host memory is garbage-collected; pooled buffers are tracked by their executables.
  }

  memory(): MemoryInfo {
    return { liveBytes: this.stats.live, peakBytes: this.stats.peak };
  }
}
