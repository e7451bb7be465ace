// The arguments the running command was given, for reports that record how to rerun them.
let args: readonly string[] = [];

export function recordInvocation(argv: readonly string[]): void {
  args = argv.slice(2);
}

/** The command as typed (quoted for a POSIX shell), without the flags that only change how it runs or prints. */
export function commandLine(): string {
  const kept = args.filter((a) => a !== "--json" && a !== "--background");
  return ["densessm", ...kept.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))].join(" ");
}
