import type { Backend, DeviceTensor, Executable } from "../backend/backend.js";
import { getBackend } from "../backend/registry.js";
import { BackendError, DTypeError, ShapeError } from "../errors.js";
import type { Graph } from "../graph/graph.js";
import type { ParameterLike } from "../graph/symbolic.js";
import { lower } from "../graph/transform.js";
import { PRIMITIVE_NAMES } from "../ops/primitives.js";
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

/**
 * Runs graphs on one backend. It lowers each graph to what the backend supports, compiles it once,
 * uploads parameters once (again only when their value changes), and checks every feed against the
 * graph's declared inputs, so backends can trust what they are given.
 */
export class Session {
  private readonly compiled = new WeakMap<Graph, Promise<Executable>>();
  private readonly params = new Map<string, BoundParameter>();

  constructor(readonly backend: Backend) {
    const missing = [...PRIMITIVE_NAMES].filter((op) => !backend.capabilities.ops.has(op));
    if (missing.length) throw new BackendError(`backend "${backend.name}" does not implement the primitive ops: ${missing.join(", ")}`);
  }

  /** A session on the named backend, or on the best available one. */
  static async create(backend?: string | Backend): Promise<Session> {
    return new Session(typeof backend === "object" ? backend : await getBackend(backend));
  }

  /** Binds parameters by state_dict name. Re-binding a name replaces it. */
  setParameters(params: Iterable<readonly [string, ParameterSource]>): void {
    for (const [name, source] of params) {
      const old = this.params.get(name);
      if (old?.device) this.backend.release(old.device);
      this.params.set(name, { source });
    }
  }

  /** The lowered, compiled form of `graph` (cached per graph object). */
  compile(graph: Graph): Promise<Executable> {
    let exe = this.compiled.get(graph);
    if (!exe) {
      const ops = this.backend.capabilities.ops;
      exe = this.backend.compile(lower(graph, (op) => ops.has(op)));
      this.compiled.set(graph, exe);
    }
    return exe;
  }

  /** Runs `graph` and returns its outputs as device tensors (for state kept on the device). */
  async runOnDevice(graph: Graph, inputs: Readonly<Record<string, Feed>> = {}): Promise<Map<string, DeviceTensor>> {
    const exe = await this.compile(graph);
    const feeds = new Map<string, DeviceTensor>();
    const uploaded: DeviceTensor[] = [];
    for (const b of graph.inputs) {
      const node = graph.nodes[b.id]!;
      const given = inputs[b.name];
      if (given === undefined) throw new ShapeError(`missing graph input "${b.name}" (${node.dtype}${formatShape(node.shape)})`);
      checkFeed(`input "${b.name}"`, given, node.shape, node.dtype);
      if (given instanceof Tensor) {
        const t = this.backend.upload(given.dtype === node.dtype ? given : given.to(node.dtype));
        uploaded.push(t);
        feeds.set(b.name, t);
      } else feeds.set(b.name, given);
    }
    const unknown = Object.keys(inputs).filter((k) => !graph.inputs.some((b) => b.name === k));
    if (unknown.length) throw new ShapeError(`unknown graph input(s): ${unknown.join(", ")} (the graph takes ${graph.inputs.map((b) => b.name).join(", ") || "none"})`);
    for (const b of graph.params) {
      const node = graph.nodes[b.id]!;
      feeds.set(b.name, this.parameter(b.name, node.shape, node.dtype));
    }
    try {
      return await exe.run(feeds);
    } finally {
      // Backends return outputs in buffers of their own (never a feed's), so uploads can go now.
      for (const t of uploaded) this.backend.release(t);
    }
  }

  /** Runs `graph` and downloads every output. */
  async run(graph: Graph, inputs: Readonly<Record<string, Feed>> = {}): Promise<Record<string, Tensor>> {
    const results = await this.runOnDevice(graph, inputs);
    const out: Record<string, Tensor> = {};
    for (const [name, t] of results) {
      out[name] = await this.backend.download(t);
      this.backend.release(t);
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
      if (bound.device) this.backend.release(bound.device);
      bound.device = this.backend.upload(host.dtype === dtype ? host : host.to(dtype));
      bound.uploadedFrom = host;
      bound.uploadedVersion = version;
    }
    return bound.device;
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

function checkFeed(what: string, t: Feed, shape: readonly number[], dtype: Tensor["dtype"]): void {
  if (!sameShape(t.shape, shape)) throw new ShapeError(`${what}: expected shape ${formatShape(shape)}, got ${formatShape(t.shape)}`);
  const convertible = t instanceof Tensor && t.dtype !== "int32" && dtype !== "int32";
  if (t.dtype !== dtype && !convertible) throw new DTypeError(`${what}: expected dtype ${dtype}, got ${t.dtype}`);
}
