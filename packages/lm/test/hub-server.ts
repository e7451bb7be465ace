// A model hub on 127.0.0.1 for tests: folders in the hub's `<org>/<name>/resolve/<revision>/<file>`
// layout, Range requests honoured, and downloads that can be cut halfway.
import { createReadStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const models = fileURLToPath(new URL("../../../models/", import.meta.url));
export const tokenizerJson = JSON.stringify({
  added_tokens: [{ id: 0, content: "<unk>", special: true }],
  model: { type: "BPE", unk_token: "<unk>", vocab: Object.fromEntries(["<unk>", ..."abcdefgh "].map((t, id) => [t, id])), merges: [] },
});

export interface Hit {
  path: string;
  range?: string;
  status: number;
}

export interface TestHub {
  readonly url: string;
  readonly root: string;
  /** Every request, in order. */
  readonly hits: Hit[];
  /** File names whose next full download is cut halfway. */
  readonly cut: Set<string>;
  close(): Promise<void>;
}

/**
 * Serves org/mamba-tiny (safetensors) and org/retnet-bin (the official pytorch_model.bin only),
 * each with a small tokenizer.json.
 */
export async function startTestHub(): Promise<TestHub> {
  const root = await mkdtemp(join(tmpdir(), "densessm-hub-"));
  for (const [repo, source, files] of [
    ["org/mamba-tiny", "mamba-tiny", ["config.json", "model.safetensors"]],
    ["org/retnet-bin", "dense-gau-retnet-official-bin", ["config.json", "pytorch_model.bin"]],
  ] as const) {
    const dir = join(root, repo, "resolve", "main");
    await mkdir(dir, { recursive: true });
    for (const f of files) await copyFile(join(models, source, f), join(dir, f));
    await writeFile(join(dir, "tokenizer.json"), tokenizerJson);
  }
  const hits: Hit[] = [];
  const cut = new Set<string>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const file = join(root, ...path.split("/").filter((p) => p && p !== ".."));
      const size = await stat(file).then((s) => (s.isFile() ? s.size : -1), () => -1);
      const range = req.headers.range;
      if (size < 0) {
        hits.push({ path, status: 404 });
        res.writeHead(404).end("not found");
        return;
      }
      const match = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
      const from = match ? Number(match[1]) : 0;
      const to = match?.[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
      if (range && !(match && from < size && from <= to)) {
        hits.push({ path, range, status: 416 });
        res.writeHead(416, { "content-range": `bytes */${size}` }).end();
        return;
      }
      const status = range ? 206 : 200;
      hits.push({ path, ...(range ? { range } : {}), status });
      res.writeHead(status, { "content-length": String(to - from + 1), "accept-ranges": "bytes", ...(range ? { "content-range": `bytes ${from}-${to}/${size}` } : {}) });
      if (!range && cut.delete(path.split("/").pop()!)) {
        // Half the body, then (once the client has had time to read it: an erroring stream drops
        // what it has not yet handed over) the connection closes short of Content-Length.
        const bytes = await readFile(file);
        res.write(bytes.subarray(0, Math.floor(size / 2)), () => setTimeout(() => res.socket?.end(), 1000));
        return;
      }
      createReadStream(file, { start: from, end: to }).pipe(res);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    root,
    hits,
    cut,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await rm(root, { recursive: true, force: true });
    },
  };
}
