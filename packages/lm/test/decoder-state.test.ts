// Decoder snapshots: restoring, resuming from bytes and forking continue bit for bit as the
// decoder would have without the pause, for every family; a state never loads into a model it
// does not belong to.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CpuBackend } from "@densessm/backend-cpu";
import { CausalLM, FormatError, Rng, Session, type Decoder, type TokenDraw } from "@densessm/core";
import { describe, expect, it } from "vitest";
import "../src/index.js"; // registers the families

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const session = new Session(new CpuBackend());
const prompt = [1, 14, 15, 40, 22, 9, 31, 5, 17];

/** `steps` sampled tokens and the logits behind each, from where the decoder stands. */
async function continueFrom(decoder: Decoder, rng: Rng, steps: number, draw: Omit<TokenDraw, "uniforms"> = { temperature: 0.9, topK: 20 }) {
  const ids: number[][] = [];
  const logits: Float32Array[] = [];
  const uniforms = () => Float32Array.from({ length: decoder.batch }, () => rng.uniform());
  let next = await decoder.sample({ ...draw, uniforms: uniforms() });
  for (let i = 0; i < steps; i++) {
    ids.push([...next]);
    logits.push((await decoder.logits()).toFloat32());
    next = await decoder.step([...next], { ...draw, uniforms: uniforms() });
  }
  return { ids, logits };
}

describe.each(["dense-gau-retnet-tiny", "mamba-tiny"])("%s decoder snapshots", (name) => {
  let lm: CausalLM;

  it("restore continues bit for bit as if there had been no pause", async () => {
    lm = await CausalLM.fromPretrained(join(repo, "models", name));
    const decoder = await lm.startDecoding(session, [prompt]);
    const snapshot = await decoder.snapshot();
    expect(snapshot.position).toBe(prompt.length);
    expect(snapshot.batch).toBe(1);
    const straight = await continueFrom(decoder, new Rng(3), 12);

    decoder.restore(snapshot);
    expect(decoder.position).toBe(prompt.length);
    const again = await continueFrom(decoder, new Rng(3), 12);
    expect(again.ids).toEqual(straight.ids);
    again.logits.forEach((l, i) => expect(Buffer.from(l.buffer).equals(Buffer.from(straight.logits[i]!.buffer)), `logits at step ${i}`).toBe(true));
    decoder.dispose();
  });

  it("a snapshot taken mid-generation and saved as bytes resumes bit for bit in a new decoder", async () => {
    const decoder = await lm.startDecoding(session, [prompt]);
    const rng = new Rng(11);
    const head = await continueFrom(decoder, rng, 5);
    const bytes = lm.serializeState(await decoder.snapshot());
    const rngState = new Rng();
    rngState.setState(rng.getState());
    const tail = await continueFrom(decoder, rng, 8);

    const resumed = lm.resumeDecoding(session, lm.deserializeState(bytes));
    expect(resumed.position).toBe(prompt.length + 5);
    const replay = await continueFrom(resumed, rngState, 8);
    expect(head.ids.length).toBe(5);
    expect(replay.ids).toEqual(tail.ids);
    replay.logits.forEach((l, i) => expect(Buffer.from(l.buffer).equals(Buffer.from(tail.logits[i]!.buffer))).toBe(true));
  });

  it("fork continues one prompt several ways, each row exactly as a lone decoder would", async () => {
    const decoder = await lm.startDecoding(session, [prompt]);
    const forked = await decoder.fork(3);
    expect(forked.batch).toBe(3);
    expect(forked.position).toBe(prompt.length);
    const greedy = { temperature: 0 };
    const rows = await continueFrom(forked, new Rng(1), 6, greedy);
    const alone = await continueFrom(decoder, new Rng(1), 6, greedy);
    for (const step of rows.ids.keys()) expect(rows.ids[step]).toEqual([alone.ids[step]![0], alone.ids[step]![0], alone.ids[step]![0]]);
  });

  it("refuses a state of another family, another config, or damaged bytes, naming the problem", async () => {
    const other = await CausalLM.fromPretrained(join(repo, "models", name === "mamba-tiny" ? "dense-gau-retnet-tiny" : "mamba-tiny"));
    const foreign = other.serializeState(await (await other.startDecoding(session, [[1, 2, 3]])).snapshot());
    expect(() => lm.deserializeState(foreign)).toThrow(FormatError);
    expect(() => lm.deserializeState(foreign)).toThrow(/saved by a .* model, this is a/);

    const mine = lm.serializeState(await (await lm.startDecoding(session, [[1, 2, 3]])).snapshot());
    const widerJson = { ...lm.config.toJSON(), vocab_size: lm.vocabSize + 1 };
    const wider = CausalLM.fromConfig(widerJson);
    expect(() => wider.deserializeState(mine)).toThrow(/another config \(.*vocab_size: saved \d+, this model \d+/);
    expect(() => lm.deserializeState(mine.subarray(0, mine.length - 10))).toThrow(FormatError);
    expect(() => lm.deserializeState(new TextEncoder().encode("not a state"))).toThrow(FormatError);
    // A decoder refuses a snapshot with another number of rows.
    const two = await lm.startDecoding(session, [[1, 2], [3, 4]]);
    expect(() => two.restore(lm.deserializeState(mine))).toThrow(/1 rows, this decoder 2/);
  });
});
