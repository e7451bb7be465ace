import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FormatError, parseSafetensors, readSafetensorsFolder, serializeSafetensors, Tensor, writeSafetensorsFolder } from "../src/index.js";

function file(header: object, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe("safetensors", () => {
  const tensors = new Map<string, Tensor>([
    ["a.weight", Tensor.fromArray([[1, 2, 3], [4, 5, 6]])],
    ["b.half", Tensor.fromArray([0.5, -1, 65504], [3], "float16")],
    ["c.bf", Tensor.fromArray([3.140625, -2], [2], "bfloat16")],
    ["ids", Tensor.int32([1, -7, 2 ** 31 - 1])],
    ["empty", Tensor.zeros([0, 4])],
  ]);

  it("round-trips every dtype bit for bit, with metadata", () => {
    const bytes = serializeSafetensors(tensors, { format: "pt" });
    const { tensors: back, metadata } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: "pt" });
    expect([...back.keys()]).toEqual([...tensors.keys()]);
    for (const [name, t] of tensors) {
      const u = back.get(name)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  });

  it("reads I64 into int32 and rejects values that do not fit", () => {
    const ok = new BigInt64Array([5n, -3n]);
    expect(parseSafetensors(file({ x: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, new Uint8Array(ok.buffer))).tensors.get("x")!.toArray()).toEqual([5, -3]);
    const big = new BigInt64Array([2n ** 40n]);
    expect(() => parseSafetensors(file({ x: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(big.buffer)), "m.safetensors")).toThrow(/m.safetensors: tensor "x": I64 value 1099511627776/);
  });

  it("names the file and the tensor for every malformed input", () => {
    const data = new Uint8Array(16);
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(3), /too short/],
      [(() => { const f = file({}); new DataView(f.buffer).setBigUint64(0, 10_000n, true); return f; })(), /header length 10000 does not fit/],
      [file({ x: { dtype: "F64", shape: [2], data_offsets: [0, 16] } }, data), /tensor "x" has unsupported dtype "F64"/],
      [file({ x: { dtype: "F32", shape: [2, -1], data_offsets: [0, 8] } }, data), /tensor "x" has an invalid shape/],
      [file({ x: { dtype: "F32", shape: [8], data_offsets: [0, 32] } }, data), /tensor "x" data \[0, 32\) lies outside the 16 data bytes/],
      [file({ x: { dtype: "F32", shape: [3], data_offsets: [0, 16] } }, data), /tensor "x" F32\[3\] needs 12 bytes/],
      [file({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, y: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, data), /tensors "x" and "y" overlap/],
    ];
    for (const [bytes, pattern] of cases) {
      expect(() => parseSafetensors(bytes, "model.safetensors")).toThrow(FormatError);
      expect(() => parseSafetensors(bytes, "model.safetensors")).toThrow(pattern);
    }
    const notJson = file({});
    notJson.set(new TextEncoder().encode("{]"), 8);
    expect(() => parseSafetensors(notJson)).toThrow(/not valid UTF-8 JSON/);
  });

  it("writes and reads sharded folders with an index", async () => {
    const dir = await mkdtemp(join(tmpdir(), "densessm-st-"));
    await writeSafetensorsFolder(dir, tensors, { maxShardBytes: 24 });
    const files = (await readdir(dir)).sort();
    expect(files).toContain("model.safetensors.index.json");
    expect(files.filter((f) => f.endsWith(".safetensors")).length).toBeGreaterThan(1);
    const back = await readSafetensorsFolder(dir);
    for (const [name, t] of tensors) expect(back.get(name)!.toArray()).toEqual(t.toArray());

    const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    index.weight_map.ghost = files[0]!;
    await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify(index));
    await expect(readSafetensorsFolder(dir)).rejects.toThrow(/weight_map but absent from their shard: ghost/);
    await expect(readSafetensorsFolder(join(dir, "nope"))).rejects.toThrow(/no weights \(looked for model\.safetensors\.index\.json, model\.safetensors, /);
  });

  it("validates the whole header before copying anything: 200 names on one 4 MB range cost nothing", () => {
    const data = new Uint8Array(4 * 1024 * 1024);
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) header[`t${i}`] = { dtype: "F32", shape: [1024 * 1024], data_offsets: [0, data.length] };
    const bytes = file(header, data);
    const before = process.memoryUsage().arrayBuffers;
    expect(() => parseSafetensors(bytes, "many.safetensors")).toThrow(/many\.safetensors: tensors "t\d+" and "t\d+" overlap/);
    // Nothing was copied before the overlap was found (one copy would already be 4 MB).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 1024 * 1024);
  });

  it("finds an overlap that a zero-length tensor between the two would hide", () => {
    const data = new Uint8Array(16);
    const header = {
      a: { dtype: "F32", shape: [3], data_offsets: [0, 12] },
      z: { dtype: "F32", shape: [0], data_offsets: [6, 6] },
      b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
    };
    expect(() => parseSafetensors(file(header, data), "hidden.safetensors")).toThrow(/tensors "a" and "b" overlap/);
    const outside = { a: { dtype: "F32", shape: [0], data_offsets: [20, 20] } };
    expect(() => parseSafetensors(file(outside, data), "zero.safetensors")).toThrow(/tensor "a" data \[20, 20\) lies outside the 16 data bytes/);
  });

  it("refuses metadata that is not a map of strings (10,000-deep nesting included) in one line", () => {
    const deep = `{"__metadata__":{"k":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`;
    const json = new TextEncoder().encode(deep);
    const f = new Uint8Array(8 + json.length);
    new DataView(f.buffer).setBigUint64(0, BigInt(json.length), true);
    f.set(json, 8);
    expect(() => parseSafetensors(f, "deep.safetensors")).toThrow(/^deep\.safetensors: __metadata__ "k" must be a string, got an array$/);
  });

  it("says when a header is over the 100 MiB cap, rather than that it does not fit", () => {
    const f = file({});
    new DataView(f.buffer).setBigUint64(0, 200n * 1024n * 1024n, true);
    expect(() => parseSafetensors(f, "huge.safetensors")).toThrow(/huge\.safetensors: header length 209715200 is over the 104857600-byte limit/);
  });
});
