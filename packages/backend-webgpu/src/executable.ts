import { BackendError, foldTransposes, numel, planBuffers, type Tensor, type DeviceTensor, type Executable, type Graph, type Node } from "@densessm/core";
import { READBACK_USAGE, type BufferPool } from "./buffer-pool.js";
import { deviceBytes, expectGpuTensor, GpuTensor, hostWords } from "./gpu-tensor.js";
import { KERNELS, type DispatchSpec, type KernelContext } from "./kernels/index.js";
import type { PipelineCache } from "./pipelines.js";
import { packHalvesKernel } from "./kernels/wgsl.js";
import { packLinearWeights } from "./rewrite.js";

/** What an executable needs from its backend. */
export interface ExecutionContext {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly kernel: KernelContext;
  /** Identifies tensors of this backend. */
  readonly owner: object;
  /** Accounts for buffers an executable owns outside the pool. */
  track(bytes: number): void;
  /** Store linear-layer weights as packed float16 (see `packLinearWeights`). */
  readonly f16Weights: boolean;
  /** Packed float16 copies of parameter buffers, dropped when the parameter is released. */
  readonly packed: Map<GPUBuffer, GPUBuffer>;
}

interface Step {
  readonly pipeline: GPUComputePipeline;
  readonly groups: readonly [number, number, number];
  /** The storage (node id) behind each binding, the output last. */
  readonly storages: readonly number[];
  /** The kernel's shape parameters, bound after the output. */
  readonly uniform?: GPUBuffer;
  /** Set when every binding is executable-owned; otherwise built per run from the feeds. */
  readonly bindGroup?: GPUBindGroup;
  /** The last feed-dependent bind group and the buffers it was made for. */
  cached?: { buffers: GPUBuffer[]; group: GPUBindGroup };
}

interface IndexCheck {
  readonly node: Node;
  /** The graph input that feeds the indices. */
  readonly feed: string;
  readonly size: number;
}

/**
 * Outputs up to this size (a batch's sampled token ids, a loss) also get a mappable copy in the
 * run's own submit, so the usual next step, reading them back, needs no submit of its own.
 */
const STAGED_OUTPUT_BYTES = 4096;

function releaseOutput(t: GpuTensor, pool: BufferPool): void {
  pool.give(t.buffer);
  if (t.staged) pool.give(t.staged);
}

const isFeed = (n: Node) => n.op === "input" || n.op === "param";

/** The storage key of a parameter's packed float16 copy (negative: never a node id). */
const packedKey = (param: number) => -1 - param;

interface PackStep {
  readonly param: number;
  readonly bytes: number;
  readonly pipeline: GPUComputePipeline;
  readonly groups: readonly [number, number, number];
}

function checkIndices(values: ArrayLike<number>, size: number, node: Node): void {
  for (let j = 0; j < values.length; j++) {
    const v = values[j]!;
    if (!(v >= 0 && v < size)) throw new BackendError(`webgpu: node %${node.id} (${node.op}): index ${v} at position ${j} is out of range [0, ${size})`);
  }
}


/**
 * Compiles a lowered graph: every intermediate gets a buffer from an arena planned once by
 * liveness (so a run allocates nothing but its outputs), constants are uploaded once, every node's
 * pipeline and (feed-independent) bind group is built here. A run records all dispatches in one
 * compute pass, copies the outputs into fresh pooled buffers, and submits once.
 */
export async function compileGraph(lowered: Graph, ctx: ExecutionContext): Promise<Executable> {
  const packing = ctx.f16Weights ? packLinearWeights(foldTransposes(lowered)) : { graph: foldTransposes(lowered), params: new Set<number>() };
  const { graph } = packing;
  const { nodes } = graph;
  const { device } = ctx;
  const plan = planBuffers(graph, (n) => n.op === "reshape");
  const owned: GPUBuffer[] = [];
  const buffers = new Map<number, GPUBuffer>(); // storage id -> executable-owned buffer
  const free = new Map<number, GPUBuffer[]>();
  const feedStorages = new Set<number>();

  // Constants get fresh buffers (recycling one would let a later node overwrite its value).
  const allocate = (bytes: number, recycle = true): GPUBuffer => {
    const size = Math.max(bytes, 4);
    const reused = recycle ? free.get(size)?.pop() : undefined;
    if (reused) return reused;
    const b = device.createBuffer({ size, usage: 0x80 | 0x08 | 0x04 });
    owned.push(b);
    ctx.track(size);
    return b;
  };

  const checks: IndexCheck[] = [];
  const pending: { node: Node; spec: DispatchSpec }[] = [];
  for (const node of nodes) {
    const storage = plan.storageOf[node.id]!;
    if (isFeed(node)) feedStorages.add(node.id);
    else if (node.op === "const") {
      const t = node.attrs.value as Tensor;
      const b = allocate(deviceBytes(node.shape), false);
      if (t.size) device.queue.writeBuffer(b, 0, hostWords(t));
      buffers.set(node.id, b);
    } else if (storage === node.id) {
      buffers.set(node.id, allocate(deviceBytes(node.shape)));
    }
    if (node.op !== "reshape" && !isFeed(node) && node.op !== "const") {
      const factory = KERNELS[node.op];
      if (!factory) throw new BackendError(`webgpu: no kernel for op "${node.op}" at node %${node.id} (the graph was not lowered for this backend)`);
      if (node.op === "gather" || node.op === "scatterAdd") {
        const idx = nodes[plan.storageOf[node.inputs[1]!]!]!;
        const size = node.op === "gather" ? nodes[node.inputs[0]!]!.shape[node.attrs.axis as number]! : (node.attrs.size as number);
        if (idx.op === "const") checkIndices((idx.attrs.value as Tensor).data, size, node);
        else if (isFeed(idx)) checks.push({ node, feed: idx.attrs.name as string, size });
      }
      if (numel(node.shape) > 0) {
        const inputs = node.inputs.map((i) => nodes[i]!);
        for (const spec of factory(node, inputs, ctx.kernel).dispatches) pending.push({ node, spec });
      }
    }
    for (const s of plan.releaseAfter[node.id]!) {
      const b = buffers.get(s);
      if (!b || nodes[s]!.op === "const") continue;
      const list = free.get(b.size);
      if (list) list.push(b);
      else free.set(b.size, [b]);
    }
  }

  const steps: Step[] = await Promise.all(
    pending.map(async ({ node, spec }): Promise<Step> => {
      const what = `node %${node.id} (${node.op})`;
      const pipeline = await ctx.pipelines.get(spec.code, what);
      const storageOfInput = (p: number) => (p === 1 && node.attrs.packedB === true ? packedKey(node.inputs[1]!) : plan.storageOf[node.inputs[p]!]!);
      const storages = [...spec.inputs.map(storageOfInput), plan.storageOf[node.id]!];
      let uniform: GPUBuffer | undefined;
      if (spec.params) {
        uniform = device.createBuffer({ size: Math.max(16, spec.params.byteLength), usage: 0x40 | 0x08 }); // UNIFORM | COPY_DST
        device.queue.writeBuffer(uniform, 0, spec.params as Uint32Array<ArrayBuffer>);
        owned.push(uniform);
        ctx.track(uniform.size);
      }
      const dynamic = storages.some((s) => feedStorages.has(s) || s < 0);
      const bindGroup = dynamic ? undefined : makeBindGroup(pipeline, storages.map((s) => buffers.get(s)!), uniform);
      return { pipeline, groups: spec.groups, storages, ...(uniform ? { uniform } : {}), ...(bindGroup ? { bindGroup } : {}) };
    }),
  );
  const packSteps: PackStep[] = await Promise.all(
    [...packing.params].map(async (param): Promise<PackStep> => {
      const [rows, cols] = nodes[param]!.shape as [number, number];
      const { code, groups } = packHalvesKernel(rows, cols);
      const pipeline = await ctx.pipelines.get(code, `packing parameter "${String(nodes[param]!.attrs.name)}" to float16`);
      return { param, bytes: rows * Math.ceil(cols / 2) * 4, pipeline, groups };
    }),
  );
  const feedNames = new Map<number, string>();
  for (const id of feedStorages) feedNames.set(id, nodes[id]!.attrs.name as string);

  function makeBindGroup(pipeline: GPUComputePipeline, storage: readonly GPUBuffer[], uniform: GPUBuffer | undefined): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = storage.map((buffer, i) => ({ binding: i, resource: { buffer } }));
    if (uniform) entries.push({ binding: storage.length, resource: { buffer: uniform } });
    return device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  }

  const bindGroupOf = (step: Step, fed: Map<number, GPUBuffer>): GPUBindGroup => {
    if (step.bindGroup) return step.bindGroup;
    const bufs = step.storages.map((s) => fed.get(s) ?? buffers.get(s)!);
    if (step.cached && step.cached.buffers.every((b, i) => b === bufs[i])) return step.cached.group;
    const group = makeBindGroup(step.pipeline, bufs, step.uniform);
    step.cached = { buffers: bufs, group };
    return group;
  };

  return {
    async run(feeds: ReadonlyMap<string, DeviceTensor>): Promise<Map<string, DeviceTensor>> {
      const fed = new Map<number, GPUBuffer>();
      for (const [id, name] of feedNames) fed.set(id, expectGpuTensor(feeds.get(name), ctx.owner, `feed "${name}"`).buffer);
      for (const c of checks) {
        const host = (feeds.get(c.feed) as GpuTensor).host;
        if (host) checkIndices(host.data, c.size, c.node);
      }
      device.pushErrorScope("validation");
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (const p of packSteps) {
        const src = fed.get(p.param)!;
        let dst = ctx.packed.get(src);
        if (!dst) {
          // First run with this parameter buffer: pack it (once; later runs reuse the copy).
          dst = ctx.pool.take(p.bytes);
          ctx.packed.set(src, dst);
          pass.setPipeline(p.pipeline);
          pass.setBindGroup(0, makeBindGroup(p.pipeline, [src, dst], undefined));
          pass.dispatchWorkgroups(p.groups[0], p.groups[1], p.groups[2]);
        }
        fed.set(packedKey(p.param), dst);
      }
      for (const step of steps) {
        pass.setPipeline(step.pipeline);
        pass.setBindGroup(0, bindGroupOf(step, fed));
        pass.dispatchWorkgroups(step.groups[0], step.groups[1], step.groups[2]);
      }
      pass.end();
      // Outputs never alias the arena or a feed: each run hands the caller buffers of its own.
      const out = new Map<string, DeviceTensor>();
      for (const o of graph.outputs) {
        const node = nodes[o.id]!;
        const storage = plan.storageOf[o.id]!;
        const src = fed.get(storage) ?? buffers.get(storage)!;
        const bytes = deviceBytes(node.shape);
        const dst = ctx.pool.take(bytes);
        const t = new GpuTensor(node.shape, node.dtype, dst, ctx.owner);
        if (bytes > 0) encoder.copyBufferToBuffer(src, 0, dst, 0, bytes);
        if (bytes > 0 && bytes <= STAGED_OUTPUT_BYTES) {
          t.staged = ctx.pool.take(bytes, READBACK_USAGE);
          encoder.copyBufferToBuffer(src, 0, t.staged, 0, bytes);
        }
        out.set(o.name, t);
      }
      device.queue.submit([encoder.finish()]);
      const error = await device.popErrorScope();
      if (error) {
        for (const t of out.values()) releaseOutput(t as GpuTensor, ctx.pool);
        throw new BackendError(`webgpu: running the graph failed: ${error.message}`);
      }
      return out;
    },
    dispose() {
      for (const b of owned) {
        ctx.track(-b.size);
        b.destroy();
      }
      owned.length = 0;
    },
  };
}
