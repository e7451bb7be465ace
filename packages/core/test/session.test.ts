import { describe, expect, it } from "vitest";
import {
  BackendError,
  DTypeError,
  PRIMITIVE_NAMES,
  Session,
  ShapeError,
  Tensor,
  ops,
  trace,
  type Backend,
  type DeviceTensor,
  type DType,
  type Executable,
  type Graph,
} from "../src/index.js";

// A backend that computes nothing and keeps books: every tensor it hands out is live until released,
// and each step can be made to fail once. What these tests check is the Session's bookkeeping around
// a failure, which no real backend can be made to fail on demand.
class LedgerBackend implements Backend {
  readonly name = "ledger";
  readonly capabilities: Backend["capabilities"];
  readonly live = new Set<DeviceTensor>();
  uploads = 0;
  compiles = 0;
  failUpload?: number; // the 1-based upload that throws
  failCompiles = 0;
  failRun = false;
  failDownload = false;

  constructor(dtypes: readonly DType[] = ["float32", "int32"]) {
    this.capabilities = { ops: PRIMITIVE_NAMES, dtypes };
  }

  private hand(shape: readonly number[], dtype: DType): DeviceTensor {
    const t = { shape: [...shape], dtype };
    this.live.add(t);
    return t;
  }

  async compile(graph: Graph): Promise<Executable> {
    this.compiles++;
    if (this.failCompiles > 0) {
      this.failCompiles--;
      throw new BackendError("ledger: device lost while compiling");
    }
    return {
      run: async () => {
        if (this.failRun) throw new BackendError("ledger: kernel failed");
        return new Map(graph.outputs.map((o) => [o.name, this.hand(graph.nodes[o.id]!.shape, graph.nodes[o.id]!.dtype)]));
      },
      dispose() {},
    };
  }

  upload(t: Tensor): DeviceTensor {
    if (++this.uploads === this.failUpload) throw new BackendError("ledger: out of device memory");
    return this.hand(t.shape, t.dtype);
  }

  async download(t: DeviceTensor): Promise<Tensor> {
    if (this.failDownload) throw new BackendError("ledger: readback failed");
    return Tensor.zeros(t.shape, t.dtype);
  }

  release(t: DeviceTensor): void {
    if (!this.live.delete(t)) throw new Error("ledger: released a tensor twice, or one it never handed out");
  }

  memory() {
    return { liveBytes: 0, peakBytes: 0 };
  }
}

const weight = Tensor.float32([1, 2, 3]);
// Two inputs and a parameter, so a failure can come after some uploads and before others.
const graph = trace(({ a, b }, builder) => ({ y: a!.add(b!).mul(builder.param("w", [3])), z: a!.mul(b!) }), { inputs: { a: { shape: [3] }, b: { shape: [3] } } });
const feeds = { a: Tensor.float32([1, 1, 1]), b: Tensor.float32([2, 2, 2]) };

function setup(backend = new LedgerBackend()) {
  const session = new Session(backend);
  session.setParameters([["w", weight]]);
  return { backend, session };
}

describe("Session resources", () => {
  it("releases every upload and every output after a run; only the parameter stays", async () => {
    const { backend, session } = setup();
    const out = await session.run(graph, feeds);
    expect(Object.keys(out).sort()).toEqual(["y", "z"]);
    expect(backend.live.size).toBe(1);
    await session.run(graph, feeds);
    expect(backend.live.size).toBe(1); // the parameter was not uploaded again
    session.dispose();
    expect(backend.live.size).toBe(0);
  });

  it("releases the uploads made before an upload throws", async () => {
    const { backend, session } = setup();
    backend.failUpload = 2;
    await expect(session.run(graph, feeds)).rejects.toThrow(/out of device memory/);
    expect(backend.uploads).toBe(2);
    expect(backend.live.size).toBe(0);
  });

  it("releases the uploaded inputs when a parameter cannot be bound after them", async () => {
    const { backend, session } = setup();
    session.setParameters([["w", Tensor.float32([1, 2])]]);
    await expect(session.run(graph, feeds)).rejects.toThrow(/parameter "w" has shape \[2\], the graph expects \[3\]/);
    expect(backend.uploads).toBe(2);
    expect(backend.live.size).toBe(0);
    const unbound = new Session(backend);
    await expect(unbound.run(graph, feeds)).rejects.toThrow(/parameter "w" .* is not bound/);
    expect(backend.live.size).toBe(0);
  });

  it("checks every feed before uploading any", async () => {
    const { backend, session } = setup();
    await expect(session.run(graph, { a: feeds.a, b: Tensor.float32([1, 2]) })).rejects.toThrow(ShapeError);
    await expect(session.run(graph, { a: feeds.a, b: Tensor.int32([1, 2, 3]) })).rejects.toThrow(DTypeError);
    await expect(session.run(graph, { a: feeds.a })).rejects.toThrow(/missing graph input "b"/);
    await expect(session.run(graph, { ...feeds, c: feeds.a })).rejects.toThrow(/unknown graph input\(s\): c/);
    expect(backend.uploads).toBe(0);
  });

  it("releases the uploads when the executable throws, and the parameter stays usable", async () => {
    const { backend, session } = setup();
    backend.failRun = true;
    await expect(session.run(graph, feeds)).rejects.toThrow(/kernel failed/);
    expect(backend.live.size).toBe(1);
    backend.failRun = false;
    await session.run(graph, feeds);
    expect(backend.live.size).toBe(1);
  });

  it("releases every device output when a download throws", async () => {
    const { backend, session } = setup();
    backend.failDownload = true;
    await expect(session.run(graph, feeds)).rejects.toThrow(/readback failed/);
    expect(backend.live.size).toBe(1);
  });

  it("does not cache a failed compile: the next call compiles again, a good compile is kept", async () => {
    const { backend, session } = setup();
    backend.failCompiles = 1;
    await expect(session.run(graph, feeds)).rejects.toThrow(/device lost while compiling/);
    await session.run(graph, feeds);
    await session.run(graph, feeds);
    expect(backend.compiles).toBe(2);
  });
});

describe("Session dtypes", () => {
  it("refuses a backend that does not hold float32 and int32", () => {
    expect(() => new Session(new LedgerBackend(["float32"]))).toThrow(/backend "ledger" does not declare the required dtypes: int32 \(it declares float32\)/);
  });

  it("carries storage dtypes a backend does not hold in the compute dtype that holds them exactly", async () => {
    const backend = new LedgerBackend();
    const session = new Session(backend);
    const half = trace(({ x }) => ({ y: x!.cast("float32") }), { inputs: { x: { shape: [2], dtype: "float16" } } });
    await expect(session.run(half, { x: Tensor.float32([1, 2]) })).resolves.toHaveProperty("y");
    const codes = trace(({ i }, builder) => ({ y: ops.gather(builder.param("w", [3, 2], "int8"), i!, 0).cast("float32") }), { inputs: { i: { shape: [1], dtype: "int32" } } });
    session.setParameters([["w", new Tensor(Int8Array.from([1, -2, 3, -4, 5, -6]), [3, 2], "int8")]]);
    await session.run(codes, { i: Tensor.int32([2]) });
    expect([...backend.live].map((t) => t.dtype)).toEqual(["int32"]); // the parameter, uploaded widened
  });

  it("names the dtype, the backend and the node a backend cannot hold", async () => {
    const session = new Session(new LedgerBackend());
    const cast = trace(({ x }) => ({ y: x!.cast("float16").cast("float32") }), { inputs: { x: { shape: [2] } } });
    await expect(session.run(cast, { x: Tensor.float32([1, 2]) })).rejects.toThrow(/cannot hold dtype float16 .*: node %1 \(cast\) of the lowered graph is float16\[2\]/);
    const declared = new Session(new LedgerBackend(["float32", "int32", "float16"]));
    await expect(declared.run(cast, { x: Tensor.float32([1, 2]) })).resolves.toHaveProperty("y");
  });
});
