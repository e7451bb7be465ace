import type { Backend, DeviceTensor, Executable } from "../backend/backend.js";
import { getBackend, type BackendOptions } from "../backend/registry.js";
import { BackendError, DTypeError, ShapeError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import type { ParameterLike } from "../graph/symbolic.js";
import { widenStorage } from "../graph/rewrites.js";
import { lower } from "../graph/transform.js";
import { PRIMITIVE_NAMES } from "../ops/primitives.js";
import { isFloat, type DType } from "../tensor/dtype.js";
import { formatShape, sameShape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

/** Something a session can bind as a parameter: a host tensor, or a Parameter whose value may change. */
export type ParameterSource = Tensor | (ParameterLike & { readonly version?: number });

interface BoundParameter {
  source: ParameterSource;
  device?: DeviceTensor;
  /** The host value (and its version) the device copy was made from. */
  uploadedFrom?: Tensor;
  uploadedVersion?: number;
}

/** What `run` accepts for each graph input: host tensors, or device tensors from an earlier run. */
export type Feed = Tensor | DeviceTensor;

/** Dtypes every backend must hold: what graphs compute in (float16/bfloat16 are optional storage). */
const REQUIRED_DTYPES: readonly DType[] = ["float32", "int32"];

/**
 * Runs graphs on one backend. It lowers each graph to what the backend supports, compiles it once,
 * uploads parameters once (again only when their value changes), and checks every feed against the
 * graph's declared inputs, so backends can trust what they are given.
 */
export class Session {
  private readonly compiled = new WeakMap<Graph, Promise<Executable>>();
  /** Inputs and parameters whose dtype the backend holds in a wider one (see `widenStorage`). */
  private readonly widened = new WeakMap<Graph, ReadonlyMap<string, DType>>();
  private readonly params = new Map<string, BoundParameter>();

  constructor(readonly backend: Backend) {
    const missing = [...PRIMITIVE_NAMES].filter((op) => !backend.capabilities.ops.has(op));
    if (missing.length) throw new BackendError(`backend "${backend.name}" does not implement the primitive ops: ${missing.join(", ")}`);
    const dtypes = REQUIRED_DTYPES.filter((d) => !backend.capabilities.dtypes.includes(d));
    if (dtypes.length) throw new BackendError(`backend "${backend.name}" does not declare the required dtypes: ${dtypes.join(", ")} (it declares ${backend.capabilities.dtypes.join(", ") || "none"})`);
  }

  /** A session on the named backend, or on the best available one (with `options`, e.g. bf16 compute). */
  static async create(backend?: string | Backend, options?: BackendOptions): Promise<Session> {
    return new Session(typeof backend === "object" ? backend : await getBackend(backend, options));
  }

  /** Binds parameters by state_dict name. Re-binding a name replaces it. */
  setParameters(params: Iterable<readonly [string, ParameterSource]>): void {
    for (const [name, source] of params) {
      const old = this.params.get(name);
      if (old?.device) this.backend.release(old.device);
      this.params.set(name, { source });
    }
  }

  /**
   * The lowered, compiled form of `graph`, cached per graph object. A compile that fails is not
   * cached, so a later call tries again (after a lost device, say) instead of repeating the error.
   */
  compile(graph: Graph): Promise<Executable> {
    let exe = this.compiled.get(graph);
    if (!exe) {
      const pending = this.lowerAndCompile(graph);
      pending.catch(() => {
        if (this.compiled.get(graph) === pending) this.compiled.delete(graph);
      });
      this.compiled.set(graph, pending);
      exe = pending;
    }
    return exe;
  }

  private async lowerAndCompile(graph: Graph): Promise<Executable> {
    const { ops, dtypes } = this.backend.capabilities;
    const lowered = widenStorage(lower(graph, (op) => ops.has(op)), dtypes);
    checkDTypes(lowered, this.backend);
    const widened = [...lowered.inputs, ...lowered.params].filter((b) => lowered.nodes[b.id]!.dtype !== graph.nodes[bindingId(graph, b.name)]!.dtype);
    if (widened.length) this.widened.set(graph, new Map(widened.map((b) => [b.name, lowered.nodes[b.id]!.dtype])));
    return this.backend.compile(lowered);
  }

  /**
   * Runs `graph` and returns its outputs as device tensors (for state kept on the device). Feeds it
   * uploads are released before it returns, also when it throws.
   */
  async runOnDevice(graph: Graph, inputs: Readonly<Record<string, Feed>> = {}): Promise<Map<string, DeviceTensor>> {
    checkFeeds(graph, inputs);
    const exe = await this.compile(graph);
    const widened = this.widened.get(graph);
    const dtypeOf = (b: { name: string; id: number }) => widened?.get(b.name) ?? graph.nodes[b.id]!.dtype;
    const feeds = new Map<string, DeviceTensor>();
    const uploaded: DeviceTensor[] = [];
    try {
      for (const b of graph.inputs) {
        const dtype = dtypeOf(b);
        const given = inputs[b.name]!;
        if (given instanceof Tensor) {
          const t = this.backend.upload(given.dtype === dtype ? given : given.to(dtype));
          uploaded.push(t);
          feeds.set(b.name, t);
        } else feeds.set(b.name, given);
      }
      for (const b of graph.params) feeds.set(b.name, this.parameter(b.name, graph.nodes[b.id]!.shape, dtypeOf(b)));
      return await exe.run(feeds);
    } finally {
      // Backends return outputs in buffers of their own (never a feed's), so uploads can go now.
      for (const t of uploaded) this.backend.release(t);
    }
  }

  /** Runs `graph` and downloads every output; the device outputs are released, also when a download throws. */
  async run(graph: Graph, inputs: Readonly<Record<string, Feed>> = {}): Promise<Record<string, Tensor>> {
    const results = await this.runOnDevice(graph, inputs);
    const out: Record<string, Tensor> = {};
    try {
      for (const [name, t] of results) out[name] = await this.backend.download(t);
    } finally {
      for (const t of results.values()) this.backend.release(t);
    }
    return out;
  }

  private parameter(name: string, shape: readonly number[], dtype: Tensor["dtype"]): DeviceTensor {
    const bound = this.params.get(name);
    if (!bound) throw new ShapeError(`parameter "${name}" (${dtype}${formatShape(shape)}) is not bound: call session.setParameters(model.namedParameters())`);
    const host = bound.source instanceof Tensor ? bound.source : bound.source.value;
    const version = bound.source instanceof Tensor ? 0 : (bound.source.version ?? 0);
    if (!bound.device || bound.uploadedFrom !== host || bound.uploadedVersion !== version) {
      if (!sameShape(host.shape, shape)) throw new ShapeError(`parameter "${name}" has shape ${formatShape(host.shape)}, the graph expects ${formatShape(shape)}`);
      if (bound.device) {
        this.backend.release(bound.device);
        bound.device = undefined; // never hand out a released tensor, even if the upload below throws
      }
      bound.device = this.backend.upload(host.dtype === dtype ? host : host.to(dtype));
      bound.uploadedFrom = host;
      bound.uploadedVersion = version;
    }
    return bound.device;
  }

  /**
   * A bound parameter's value on the backend (uploaded now if the host value changed). The session
   * keeps owning it: an optimizer on the backend reads it, then hands back the update with
   * `replaceParameter`.
   */
  parameterOnDevice(name: string): DeviceTensor {
    const bound = this.params.get(name);
    if (!bound) throw new ShapeError(`parameter "${name}" is not bound: call session.setParameters(model.namedParameters())`);
    const host = bound.source instanceof Tensor ? bound.source : bound.source.value;
    return this.parameter(name, host.shape, host.dtype);
  }

  /**
   * Replaces a bound parameter's backend value with `value` (a tensor of this backend, computed on
   * it, such as an optimizer's update; the session now owns it and releases the old one). Later
   * runs use it; the host value is stale until `syncParameter` copies it back.
   */
  replaceParameter(name: string, value: DeviceTensor): void {
    const bound = this.params.get(name);
    if (!bound) throw new ShapeError(`parameter "${name}" is not bound: call session.setParameters(model.namedParameters())`);
    const host = bound.source instanceof Tensor ? bound.source : bound.source.value;
    if (!sameShape(value.shape, host.shape) || value.dtype !== host.dtype) throw new ShapeError(`parameter "${name}": the replacement is ${value.dtype}${formatShape(value.shape)}, the parameter ${host.dtype}${formatShape(host.shape)}`);
    if (bound.device && bound.device !== value) this.backend.release(bound.device);
    bound.device = value;
    bound.uploadedFrom = host;
    bound.uploadedVersion = bound.source instanceof Tensor ? 0 : (bound.source.version ?? 0);
  }

  /**
   * Copies a parameter's backend value into its host tensor, in place, after updates made on the
   * backend. A Parameter's version is bumped (other sessions upload the new value) while this
   * session's copy stays current.
   */
  async syncParameter(name: string): Promise<void> {
    const bound = this.params.get(name);
    if (!bound?.device) return;
    const host = bound.source instanceof Tensor ? bound.source : bound.source.value;
    host.data.set((await this.backend.download(bound.device)).data as never);
    if (!(bound.source instanceof Tensor) && "markUpdated" in bound.source) (bound.source as { markUpdated(): void }).markUpdated();
    bound.uploadedFrom = host;
    bound.uploadedVersion = bound.source instanceof Tensor ? 0 : (bound.source.version ?? 0);
  }

  memory() {
    return this.backend.memory();
  }

  /** Frees every parameter's device copy. */
  dispose(): void {
    for (const p of this.params.values()) if (p.device) this.backend.release(p.device);
    this.params.clear();
  }
}

/** Every graph input fed with the declared shape and a usable dtype, and nothing else: checked before any upload. */
function checkFeeds(graph: Graph, inputs: Readonly<Record<string, Feed>>): void {
  for (const b of graph.inputs) {
    const node = graph.nodes[b.id]!;
    const given = inputs[b.name];
    if (given === undefined) throw new ShapeError(`missing graph input "${b.name}" (${node.dtype}${formatShape(node.shape)})`);
    checkFeed(`input "${b.name}"`, given, node.shape, node.dtype);
  }
  const unknown = Object.keys(inputs).filter((k) => !graph.inputs.some((b) => b.name === k));
  if (unknown.length) throw new ShapeError(`unknown graph input(s): ${unknown.join(", ")} (the graph takes ${graph.inputs.map((b) => b.name).join(", ") || "none"})`);
}

function checkFeed(what: string, t: Feed, shape: readonly number[], dtype: Tensor["dtype"]): void {
  if (!sameShape(t.shape, shape)) throw new ShapeError(`${what}: expected shape ${formatShape(shape)}, got ${formatShape(t.shape)}`);
  const convertible = t instanceof Tensor && isFloat(t.dtype) && isFloat(dtype);
  if (t.dtype !== dtype && !convertible) throw new DTypeError(`${what}: expected dtype ${dtype}, got ${t.dtype}`);
}

function bindingId(graph: Graph, name: string): number {
  return (graph.inputs.find((b) => b.name === name) ?? graph.params.find((b) => b.name === name))!.id;
}

/** Every dtype a lowered graph holds must be one the backend's buffers can hold. */
function checkDTypes(graph: Graph, backend: Backend): void {
  const supported = backend.capabilities.dtypes;
  for (const node of graph.nodes) {
    if (supported.includes(node.dtype)) continue;
    const what = node.op === "input" || node.op === "param" ? `${node.op === "input" ? "graph input" : "parameter"} "${node.attrs.name as string}"` : `node %${node.id} (${node.op}) of the lowered graph`;
    throw new BackendError(`backend "${backend.name}" cannot hold dtype ${node.dtype} (it supports ${supported.join(", ")}): ${what} is ${node.dtype}${formatShape(node.shape)}`);
  }
}
