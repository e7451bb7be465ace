import { describe, expect, it } from "vitest";
import { Dropout, Embedding, FormatError, Linear, Module, Parameter, RMSNorm, Rng, Tensor, init, manualSeed } from "../src/index.js";

class Block extends Module {
  q_proj = new Linear(4, 3, { bias: false });
  norm = new RMSNorm(3);
}
class Tiny extends Module {
  embed_tokens = new Embedding(10, 4);
  layers = [new Block(), new Block()];
  scale = new Parameter(init.ones([1]));
  drop = new Dropout(0.1);
}

describe("nn", () => {
  it("names parameters by property path, like a PyTorch state_dict", () => {
    manualSeed(0);
    const m = new Tiny();
    expect(m.namedParameters().map(([n]) => n)).toEqual([
      "embed_tokens.weight",
      "layers.0.q_proj.weight",
      "layers.0.norm.weight",
      "layers.1.q_proj.weight",
      "layers.1.norm.weight",
      "scale",
    ]);
    expect(m.numParameters()).toBe(40 + 2 * (12 + 3) + 1);
    expect(m.eval().modules().every((x) => !x.training)).toBe(true);
  });

  it("lists tied parameters once, but saves them under every name", () => {
    class Tied extends Module {
      a = new Linear(2, 2);
      b: Linear;
      constructor() {
        super();
        this.b = new Linear(2, 2);
        this.b.weight = this.a.weight;
      }
    }
    const t = new Tied();
    expect(t.namedParameters().map(([n]) => n)).toEqual(["a.weight", "a.bias", "b.bias"]);
    expect([...t.stateDict().keys()]).toEqual(["a.weight", "a.bias", "b.weight", "b.bias"]);
  });

  it("loads a state dict, reporting every missing, unexpected and mis-shaped key at once", () => {
    const m = new Tiny();
    const dict = new Tiny().stateDict();
    m.loadStateDict(dict);
    expect(m.layers[1]!.q_proj.weight.value.toArray()).toEqual(dict.get("layers.1.q_proj.weight")!.toArray());
    dict.delete("scale");
    dict.set("layers.0.norm.weight", Tensor.zeros([4]));
    dict.set("extra", Tensor.zeros([1]));
    let message = "";
    try {
      m.loadStateDict(dict);
    } catch (e) {
      expect(e).toBeInstanceOf(FormatError);
      message = (e as Error).message;
    }
    expect(message).toContain('missing tensor "scale"');
    expect(message).toContain('tensor "layers.0.norm.weight" has shape [4], expected [3]');
    expect(message).toContain('unexpected tensor "extra"');
    expect(() => m.loadStateDict(dict, { strict: false })).toThrow(/missing tensor "scale"/);
  });

  it("widens half-precision checkpoints to float32", () => {
    const l = new Linear(2, 2, { bias: false });
    l.loadStateDict(new Map([["weight", Tensor.fromArray([[1, 2], [3, 4]], [2, 2], "bfloat16")]]));
    expect(l.weight.value.dtype).toBe("float32");
  });
});

describe("Rng", () => {
  it("is reproducible and resumable from its saved state", () => {
    const a = new Rng(7);
    a.normal();
    const state = a.getState();
    const next = [a.uniform(), a.normal(), a.int(100)];
    const b = new Rng(0);
    b.setState(state);
    expect([b.uniform(), b.normal(), b.int(100)]).toEqual(next);
    const u = Array.from({ length: 10000 }, () => new Rng(3).uniform());
    expect(new Set(u).size).toBe(1);
    const r = new Rng(5);
    const mean = Array.from({ length: 20000 }, () => r.uniform()).reduce((s, v) => s + v, 0) / 20000;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
  });
});
