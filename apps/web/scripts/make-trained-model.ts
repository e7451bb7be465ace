// Writes the demo's default model from a finished training run of the embedded default:
//   models/tinyshakespeare-dense-retnet/     the trained weights in float16 (the repository's copy,
//                                            which the quality tests quantize and score)
//   apps/web/public/models/tinyshakespeare-int8/   what `densessm quantize --bits 8` makes of them
//
//   pnpm start                      # 500 steps on tinyshakespeare into runs/default
//   node --conditions=@densessm/source --import tsx apps/web/scripts/make-trained-model.ts runs/default
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CausalLM, writeFileAtomic, writeSafetensorsFolder } from "@densessm/core";
import { quantizeModel, resolveModelDir } from "@densessm/lm";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const run = process.argv[2];
if (!run) throw new Error("usage: make-trained-model.ts <training run folder, e.g. runs/default>");
const checkpoint = await resolveModelDir(run);
const half = join(root, "models", "tinyshakespeare-dense-retnet");
const bundled = join(root, "apps", "web", "public", "models", "tinyshakespeare-int8");

const lm = await CausalLM.fromPretrained(checkpoint);
await rm(half, { recursive: true, force: true });
await writeSafetensorsFolder(half, new Map([...lm.stateDict()].map(([name, t]) => [name, t.to("float16")])));
await writeFileAtomic(join(half, "config.json"), `${JSON.stringify({ ...lm.config.toJSON(), torch_dtype: "float16" }, null, 2)}\n`);
for (const file of await readdir(checkpoint)) if (file.startsWith("tokenizer") || file === "special_tokens_map.json") await copyFile(join(checkpoint, file), join(half, file));

await rm(bundled, { recursive: true, force: true });
await mkdir(dirname(bundled), { recursive: true });
const report = await quantizeModel({ model: half, out: bundled, bits: 8 });
console.log(`${half}: float16 weights of ${checkpoint}\n${bundled}: int8, ${report.bytesAfter.toLocaleString("en")} bytes of weights`);
