import { BackendError, foldTransposes, numel, planBuffers, type DeviceTensor, type Executable, type Graph, type Node, type Tensor } from "@densessm/core";
import { checkBindings } from "../lang/bindings.js";
import type { KernelProgram } from "../lang/kernel.js";
import { fuseElementwise } from "../kernels/fused.js";
import { KERNELS } from "../kernels/index.js";
import { packHalvesKernel } from "../kernels/matmul.js";
import { elementGrid } from "../kernels/grid.js";
import type { Dispatch, KernelContext } from "../kernels/types.js";
import type { BufferPool } from "./pool.js";
import { byteStorage, packLinearWeights } from "./rewrite.js";
import type { GpuRuntime } from "./runtime.js";
import { deviceBytes, expectGpuTensor, GpuTensor, hostWords } from "./tensor.js";

/** What an executable needs from its backend. */
export interface ExecutionContext<Buffer> {
  readonly runtime: GpuRuntime<Buffer>;
  readonly pool: BufferPool<Buffer>;
  readonly kernel: KernelContext;
  /** The compiled form of a program (cached per backend). */
  compiled(program: KernelProgram): Promise<unknown>;
  /** Identifies tensors of this backend. */
  readonly owner: object;
  /** Store linear-layer weights as packed float16 (see `packLinearWeights`). */
  readonly f16Weights: boolean;
  /** Fuse elementwise chains into single kernels. */
  readonly fuse: boolean;
  /** Packed float16 copies of parameter buffers, dropped when the parameter is released. */
  readonly packed: Map<Buffer, Buffer>;
  /** Counts launches (and launches saved by fused chains) per run. */
  count(dispatches: number, saved: number): void;
}

/** The executor's compiled graph: an Executable plus what it costs per run. */
export interface GpuExecutable extends Executable {
  /** Kernel launches per run. */
  readonly dispatches: number;
  /** Launches per run that fused elementwise chains save against one kernel per node. */
  readonly savedDispatches: number;
}

interface Step {
  readonly node: Node;
  readonly program: KernelProgram;
  readonly kernel: unknown;
  readonly groups: readonly [number, number, number];
  /** The storage (node id, or a packed weight's key) behind each binding, the output last. */
  readonly storages: readonly number[];
  readonly params: Uint32Array | undefined;
  /** Set when every binding is executable-owned; otherwise bound per run from the feeds. */
  readonly bound?: unknown;
  /** The last feed-dependent binding and the buffers it was made for. */
  cached?: { buffers: unknown[]; bound: unknown };
}

interface IndexCheck {
  readonly node: Node;
  /** The graph input that feeds the indices. */
  readonly feed: string;
  readonly size: number;
}

/**
 * Outputs up to this size (a batch's sampled token ids, a loss) also get a copy to the host in
 * the run's own submit, so the usual next step, reading them back, needs no submit of its own.
 */
const STAGED_OUTPUT_BYTES = 4096;

const isFeed = (n: Node) => n.op === "input" || n.op === "param";

/** The storage key of a parameter's packed float16 copy (negative: never a node id). */
const packedKey = (param: number) => -1 - param;

function checkIndices(values: ArrayLike<number>, size: number, node: Node, runtime: string): void {
  for (let j = 0; j < values.length; j++) {
    const v = values[j]!;
    if (!(v >= 0 && v < size)) throw new BackendError(`${runtime}: node %${node.id} (${node.op}): index ${v} at position ${j} is out of range [0, ${size})`);
  }
}

/** Parameter values as the words a kernel reads, typed by its declarations. */
function paramWords(program: KernelProgram, values: readonly number[] | undefined): Uint32Array | undefined {
  const decls = program.ir.params;
  if (!decls.length) return undefined;
  if (values?.length !== decls.length) throw new BackendError(`gpu: kernel "${program.name}" takes ${decls.length} parameters, got ${values?.length ?? 0}`);
  const words = new Uint32Array(decls.length);
  const f = new Float32Array(words.buffer);
  const i = new Int32Array(words.buffer);
  decls.forEach((d, k) => {
    if (d.t === "f32") f[k] = values[k]!;
    else if (d.t === "i32") i[k] = values[k]!;
    else words[k] = values[k]!;
  });
  return words;
}

/**
 * Compiles a lowered graph into a dispatch list. The graph is rewritten first (transposes folded
 * into matmuls, byte tensors widened where no byte kernel reads them, elementwise chains fused,
 * linear weights packed if asked), every intermediate gets
 * a buffer from an arena planned once by liveness (a run allocates nothing but its outputs),
 * constants are uploaded once, and every step's kernel and (feed-independent) binding is made
 * here. A run records every launch, copies the outputs into fresh pooled buffers, and submits once.
 */
export async function compileGraph<Buffer>(lowered: Graph, ctx: ExecutionContext<Buffer>): Promise<GpuExecutable> {
  const { runtime } = ctx;
  const name = runtime.name;
  let graph = byteStorage(foldTransposes(lowered), name);
  let saved = 0;
  if (ctx.fuse) ({ graph, saved } = fuseElementwise(graph, ctx.kernel.maxStorageBuffers - 1));
  const packing = ctx.f16Weights ? packLinearWeights(graph) : { graph, params: new Set<number>() };
  graph = packing.graph;
  const { nodes } = graph;
  const plan = planBuffers(graph, (n) => n.op === "reshape");
  const owned: { buffer: Buffer; bytes: number }[] = [];
  const buffers = new Map<number, Buffer>(); // storage id -> executable-owned buffer
  const free = new Map<number, Buffer[]>();
  const sizeOf = new Map<Buffer, number>();
  const feedStorages = new Set<number>();

  // Constants get fresh buffers (recycling one would let a later node overwrite its value).
  const allocate = (bytes: number, recycle = true): Buffer => {
    const size = Math.max(4, bytes);
    const reused = recycle ? free.get(size)?.pop() : undefined;
    if (reused !== undefined) return reused;
    const b = runtime.alloc(size);
    owned.push({ buffer: b, bytes: size });
    sizeOf.set(b, size);
    ctx.pool.track(size);
    return b;
  };

  const checks: IndexCheck[] = [];
  const pending: { node: Node; dispatch: Dispatch }[] = [];
  for (const node of nodes) {
    const storage = plan.storageOf[node.id]!;
    if (isFeed(node)) feedStorages.add(node.id);
    else if (node.op === "const") {
      const t = node.attrs.value as Tensor;
      const b = allocate(deviceBytes(node.shape, node.dtype), false);
      if (t.size) runtime.write(b, hostWords(t));
      buffers.set(node.id, b);
    } else if (storage === node.id) {
      buffers.set(node.id, allocate(deviceBytes(node.shape, node.dtype)));
    }
    if (node.op !== "reshape" && !isFeed(node) && node.op !== "const") {
      const factory = KERNELS[node.op];
      if (!factory) throw new BackendError(`${name}: no kernel for op "${node.op}" at node %${node.id} (the graph was not lowered for this backend)`);
      if (node.op === "gather" || node.op === "scatterAdd") {
        const idx = nodes[plan.storageOf[node.inputs[1]!]!]!;
        const size = node.op === "gather" ? nodes[node.inputs[0]!]!.shape[node.attrs.axis as number]! : (node.attrs.size as number);
        if (idx.op === "const") checkIndices((idx.attrs.value as Tensor).data, size, node, name);
        else if (isFeed(idx)) checks.push({ node, feed: idx.attrs.name as string, size });
      }
      if (numel(node.shape) > 0) {
        const inputs = node.inputs.map((i) => nodes[i]!);
        for (const dispatch of factory(node, inputs, ctx.kernel).dispatches) pending.push({ node, dispatch });
      }
    }
    for (const s of plan.releaseAfter[node.id]!) {
      const b = buffers.get(s);
      if (b === undefined || nodes[s]!.op === "const") continue;
      const size = sizeOf.get(b)!;
      const list = free.get(size);
      if (list) list.push(b);
      else free.set(size, [b]);
    }
  }

  const kernelFor = async (program: KernelProgram, what: string) => {
    try {
      return await ctx.compiled(program);
    } catch (e) {
      throw new BackendError(`${name}: ${what}: kernel "${program.name}" failed to compile: ${(e as Error).message}`);
    }
  };

  const bindStep = (step: Pick<Step, "node" | "program" | "kernel" | "params">, bufs: readonly Buffer[]): unknown => {
    checkBindings(step.program, bufs);
    return runtime.bind(step.kernel, bufs, step.params);
  };

  const steps: Step[] = await Promise.all(
    pending.map(async ({ node, dispatch }): Promise<Step> => {
      const kernel = await kernelFor(dispatch.program, `node %${node.id} (${node.op})`);
      const storageOfInput = (p: number) => (p === 1 && node.attrs.packedB === true ? packedKey(node.inputs[1]!) : plan.storageOf[node.inputs[p]!]!);
      const storages = [...dispatch.inputs.map(storageOfInput), plan.storageOf[node.id]!];
      const params = paramWords(dispatch.program, dispatch.params);
      const step = { node, program: dispatch.program, kernel, groups: dispatch.groups, storages, params };
      const dynamic = storages.some((s) => feedStorages.has(s) || s < 0);
      return dynamic ? step : { ...step, bound: bindStep(step, storages.map((s) => buffers.get(s)!)) };
    }),
  );

  const packSteps = await Promise.all(
    [...packing.params].map(async (param) => {
      const [rows, cols] = nodes[param]!.shape as [number, number];
      const program = packHalvesKernel.specialize({ rows, cols });
      const kernel = await kernelFor(program, `packing parameter "${String(nodes[param]!.attrs.name)}" to float16`);
      return { param, bytes: rows * Math.ceil(cols / 2) * 4, kernel, groups: elementGrid(rows * Math.ceil(cols / 2)) };
    }),
  );
  const feedNames = new Map<number, string>();
  for (const id of feedStorages) feedNames.set(id, nodes[id]!.attrs.name as string);

  const boundFor = (step: Step, fed: Map<number, Buffer>): unknown => {
    if (step.bound !== undefined) return step.bound;
    const bufs = step.storages.map((s) => fed.get(s) ?? buffers.get(s)!);
    if (step.cached && step.cached.buffers.every((b, i) => b === bufs[i])) return step.cached.bound;
    const bound = bindStep(step, bufs);
    step.cached = { buffers: bufs, bound };
    return bound;
  };

  const releaseOutput = (t: GpuTensor<Buffer>) => {
    ctx.pool.give(t.buffer);
    if (t.staged !== undefined) runtime.discard(t.staged);
  };

  return {
    dispatches: steps.length,
    savedDispatches: saved,
    async run(feeds: ReadonlyMap<string, DeviceTensor>): Promise<Map<string, DeviceTensor>> {
      const fed = new Map<number, Buffer>();
      for (const [id, feed] of feedNames) fed.set(id, expectGpuTensor<Buffer>(feeds.get(feed), ctx.owner, name, `feed "${feed}"`).buffer);
      for (const c of checks) {
        const host = (feeds.get(c.feed) as GpuTensor).host;
        if (host) checkIndices(host.data, c.size, c.node, name);
      }
      for (const p of packSteps) {
        const src = fed.get(p.param)!;
        let dst = ctx.packed.get(src);
        if (dst === undefined) {
          // First run with this parameter buffer: pack it (once; later runs reuse the copy).
          dst = ctx.pool.take(p.bytes);
          ctx.packed.set(src, dst);
          runtime.dispatch(runtime.bind(p.kernel, [src, dst], undefined), p.groups);
        }
        fed.set(packedKey(p.param), dst);
      }
      for (const step of steps) {
        try {
          runtime.dispatch(boundFor(step, fed), step.groups);
        } catch (e) {
          throw new BackendError(`${name}: node %${step.node.id} (${step.node.op}): ${(e as Error).message}`);
        }
      }
      // Outputs never alias the arena or a feed: each run hands the caller buffers of its own.
      const out = new Map<string, DeviceTensor>();
      for (const o of graph.outputs) {
        const node = nodes[o.id]!;
        const storage = plan.storageOf[o.id]!;
        const src = fed.get(storage) ?? buffers.get(storage)!;
        const bytes = deviceBytes(node.shape, node.dtype);
        const t = new GpuTensor(node.shape, node.dtype, ctx.pool.take(bytes), ctx.owner);
        if (bytes > 0) runtime.copy(src, t.buffer, bytes);
        if (bytes > 0 && bytes <= STAGED_OUTPUT_BYTES) t.staged = runtime.stage(src, bytes);
        out.set(o.name, t);
      }
      try {
        await runtime.submit();
      } catch (e) {
        for (const t of out.values()) releaseOutput(t as GpuTensor<Buffer>);
        throw new BackendError(`${name}: running the graph failed: ${(e as Error).message}`);
      }
      ctx.count(steps.length, saved);
      return out;
    },
    dispose() {
      for (const { buffer, bytes } of owned) {
        ctx.pool.track(-bytes);
        runtime.free(buffer);
      }
      owned.length = 0;
    },
  };
}
