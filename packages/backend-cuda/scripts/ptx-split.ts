// Splits one PTX module (a translation unit of many kernels) into one module per kernel, so the
// runtime loads (and the driver JIT-compiles) only the kernels a model uses.

/**
 * PTX text per entry point: the module header (.version, .target, .address_size), every
 * module-scope declaration (globals, device functions: kept whole in every part, so each is
 * self-contained), and the entry. NVVM demotes a kernel's __shared__ arrays into the kernel, so
 * ours have none at module scope; the split stays correct if that changes.
 */
export function splitPtx(ptx: string): Map<string, string> {
  const text = ptx.replace(/\0+$/, "");
  const header = [...text.matchAll(/^\s*\.(version|target|address_size)\b.*$/gm)].map((m) => m[0].trim());
  if (header.length !== 3) throw new Error("not a PTX module: .version, .target and .address_size expected");
  const entries: { name: string; text: string }[] = [];
  const shared: string[] = [];
  // Walk the top level: an entry runs from its `.entry` line to the `}` that closes its body.
  const lines = text.split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const entry = /^\s*(?:\.visible\s+|\.weak\s+)?\.entry\s+([A-Za-z_$][\w$]*)/.exec(line);
    if (!entry) {
      if (/^\s*\.(version|target|address_size)\b/.test(line) || /^\s*\/\//.test(line) || line.trim() === "") {
        i++;
        continue;
      }
      // A module-scope declaration or device function: up to its `;` or its closing brace.
      const start = i;
      i = endOf(lines, i, true);
      shared.push(lines.slice(start, i).join("\n"));
      continue;
    }
    const start = i;
    i = endOf(lines, i, false);
    if (i < 0) throw new Error(`PTX entry ${entry[1]} has no closed body`);
    entries.push({ name: entry[1]!, text: lines.slice(start, i).join("\n") });
  }
  const prefix = [...header, "", ...shared, ""].join("\n");
  return new Map(entries.map((e) => [e.name, `${prefix}\n${e.text}\n`]));
}

/**
 * The line after the top-level item starting at `from`: after the `}` closing its braces, or (if
 * `declaration`) after a `;` ending a line before any brace opened. -1 when it never closes.
 */
function endOf(lines: readonly string[], from: number, declaration: boolean): number {
  let depth = 0;
  let opened = false;
  for (let i = from; i < lines.length; i++) {
    for (const ch of lines[i]!) {
      if (ch === "{") {
        depth++;
        opened = true;
      } else if (ch === "}") depth--;
    }
    if ((opened && depth === 0) || (declaration && !opened && /;\s*$/.test(lines[i]!))) return i + 1;
  }
  return declaration ? lines.length : -1;
}
