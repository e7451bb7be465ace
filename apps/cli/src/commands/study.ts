import { closeSync, openSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { Command } from "commander";
import { readGrid, study, type StudyEvent, type StudyStatus } from "@densessm/lm";
import { asset, DEFAULT_CORPUS } from "../assets.js";
import { CliError } from "../errors.js";
import { commandLine } from "../invocation.js";
import { collect, nonNegativeInt, positiveInt } from "../options.js";

interface StudyFlags {
  grid?: string;
  data?: string[];
  runs: string;
  out?: string;
  seeds?: number[];
  steps?: number;
  tokens?: number;
  backend?: string;
  deterministic?: boolean;
  tokenizer?: string;
  reportOnly?: boolean;
  background?: boolean;
  status?: boolean;
  stop?: boolean;
  list?: boolean;
  json?: boolean;
}

/** The grids shipped with the CLI (assets/study/<name>.json). */
const GRIDS = asset("study");

export function registerStudy(program: Command): void {
  program
    .command("study")
    .description(
      "Run a named grid of model configurations × seeds (one tokenizer, one data order per seed) and write a table (mean ± std, paired differences to each baseline with a 95 % CI, parameter counts) and a plot. Resumes where it stopped; --background runs it detached with a log.",
    )
    .option("--grid <name|file>", "a grid shipped with the CLI (see --list) or a grid JSON file")
    .option("--data <path>", "text file or folder for language-modeling grids (repeatable; default: the bundled tinyshakespeare)", collect)
    .option("--runs <dir>", "folder of the runs, shared by grids (finished runs are reused)", "runs/study")
    .option("--out <dir>", "where study.md, study.svg and study.json go (default: <runs>/<grid>)")
    .option("--seeds <list>", "comma-separated seeds (default: the grid's)", (v: string) => v.split(",").map((s) => nonNegativeInt(s.trim())))
    .option("--steps <n>", "optimizer steps per run (default: the grid's)", positiveInt)
    .option("--tokens <n>", "training tokens per run instead of --steps (language modeling)", positiveInt)
    .option("--backend <name>", "backend (default: best available)")
    .option("--deterministic", "the same numbers on every run and resume (onnx: one thread, slower; cpu always is)")
    .option("--tokenizer <file|dir>", "use this tokenizer for every run instead of one trained on the data")
    .option("--report-only", "train nothing: report the seeds every configuration has finished")
    .option("--background", "run detached; progress goes to <runs>/<grid>.log (see --status)")
    .option("--status", "show the grid's progress (from <runs>/<grid>.status.json)")
    .option("--stop", "stop the grid running in the background (rerun the same command to resume)")
    .option("--list", "list the grids shipped with the CLI")
    .option("--json", "print the result as JSON")
    .action(async (flags: StudyFlags) => {
      if (flags.list) return console.log(await listGrids());
      if (!flags.grid) throw new CliError("study: give --grid (a name from --list or a grid file)");
      const gridFile = await resolveGrid(flags.grid);
      const grid = await readGrid(gridFile);
      const statusFile = join(flags.runs, `${grid.name}.status.json`);
      const logFile = join(flags.runs, `${grid.name}.log`);
      if (flags.status) return console.log(await describeStatus(statusFile, logFile, Boolean(flags.json)));
      if (flags.stop) return console.log(await stopGrid(statusFile));
      if (flags.background) return console.log(await startInBackground(flags.runs, logFile, grid.name));

      const controller = new AbortController();
      const stop = () => controller.abort(new CliError("study: stopped; run the same command again to resume"));
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      try {
        const report = await study({
          grid: gridFile,
          data: (grid.task ?? "language-modeling") === "language-modeling" ? (flags.data ?? [DEFAULT_CORPUS]) : undefined,
          runs: flags.runs,
          out: flags.out ?? join(flags.runs, grid.name),
          seeds: flags.seeds,
          training: { ...(flags.steps ? { steps: flags.steps } : {}), ...(flags.tokens ? { tokens: flags.tokens, steps: undefined } : {}) },
          mqar: flags.steps ? { steps: flags.steps } : undefined,
          backend: flags.backend,
          deterministic: flags.deterministic,
          tokenizer: flags.tokenizer,
          reportOnly: flags.reportOnly,
          command: commandLine().replace(" --report-only", ""), // the command that trains what the report shows
          signal: controller.signal,
          onProgress: flags.json ? undefined : printProgress,
        });
        if (flags.json) return console.log(JSON.stringify(report));
        console.log(await readFile(report.files.table, "utf8"));
        console.log(`plot: ${report.files.plot}\ndata: ${report.files.json}`);
      } finally {
        process.off("SIGTERM", stop);
        process.off("SIGINT", stop);
      }
    });
}

async function listGrids(): Promise<string> {
  const files = (await readdir(GRIDS)).filter((f) => f.endsWith(".json")).sort();
  const grids = await Promise.all(files.map((f) => readGrid(join(GRIDS, f))));
  return grids.map((g) => `${g.name}\t${g.configurations.length} configurations × ${(g.seeds ?? [0, 1, 2]).length} seeds\t${g.description ?? ""}`).join("\n");
}

async function resolveGrid(grid: string): Promise<string> {
  if (/[/\\]|\.json$/i.test(grid)) return grid;
  const shipped = (await readdir(GRIDS)).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
  if (!shipped.includes(grid)) throw new CliError(`study: no grid named "${grid}" (shipped: ${shipped.join(", ")}; or give a grid file)`);
  return join(GRIDS, `${grid}.json`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function readStatus(statusFile: string): Promise<StudyStatus | undefined> {
  try {
    return JSON.parse(await readFile(statusFile, "utf8")) as StudyStatus;
  } catch {
    return undefined;
  }
}

const minutes = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, "0")}m` : `${Math.round(s / 60)}m`);

async function describeStatus(statusFile: string, logFile: string, json: boolean): Promise<string> {
  const status = await readStatus(statusFile);
  if (!status) return json ? JSON.stringify({ state: "not started" }) : `no study has run here yet (${statusFile} does not exist)`;
  const running = status.state === "running" && alive(status.pid);
  const state = status.state === "running" && !running ? "interrupted (rerun the same command to resume)" : status.state;
  if (json) return JSON.stringify({ ...status, state });
  const current = status.current ? `; now ${status.current.configuration} seed ${status.current.seed}, step ${status.current.step}/${status.current.totalSteps}` : "";
  const eta = running && status.etaSeconds !== undefined ? `; about ${minutes(status.etaSeconds)} left` : "";
  return `${status.grid}: ${state}${running ? ` (pid ${status.pid})` : ""}, ${status.finished}/${status.total} runs finished${current}${eta}; updated ${status.updatedAt}${status.error ? `\nerror: ${status.error}` : ""}\nlog: ${logFile}`;
}

async function stopGrid(statusFile: string): Promise<string> {
  const status = await readStatus(statusFile);
  if (!status || status.state !== "running" || !alive(status.pid)) return "no study of this grid is running";
  process.kill(status.pid, "SIGTERM");
  return `sent SIGTERM to pid ${status.pid}; it stops at the next training step (run the same command again to resume from its last checkpoint)`;
}

async function startInBackground(runs: string, logFile: string, grid: string): Promise<string> {
  const { mkdir } = await import("node:fs/promises");
  await mkdir(runs, { recursive: true });
  const fd = openSync(logFile, "a");
  const args = [...process.execArgv, process.argv[1]!, ...process.argv.slice(2).filter((a) => a !== "--background")];
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", fd, fd], cwd: process.cwd() });
  child.unref();
  closeSync(fd);
  return `started grid ${grid} in the background (pid ${child.pid}); log: ${logFile}\nprogress: densessm study --grid ${grid} --runs ${runs} --status\nstop:     densessm study --grid ${grid} --runs ${runs} --stop (the same command without --stop resumes)`;
}

function printProgress(e: StudyEvent): void {
  const stamp = new Date().toISOString().slice(11, 19);
  switch (e.type) {
    case "plan":
      console.error(`${stamp} grid ${e.grid}: ${e.runs} runs, ${e.finished} already finished; parameters: ${Object.entries(e.parameters).map(([n, p]) => `${n} ${p.toLocaleString("en")}`).join(", ")}`);
      break;
    case "run":
      console.error(`${stamp} [${e.index + 1}/${e.total}] ${e.resumed ? "resuming" : "training"} ${e.configuration} seed ${e.seed}`);
      break;
    case "train":
      if (e.event.type === "eval") console.error(`${stamp}   ${e.configuration} seed ${e.seed}: step ${e.event.step} validation loss ${e.event.loss.toFixed(4)}`);
      else if (e.event.type === "step" && e.event.step % Math.max(1, Math.ceil(e.event.totalSteps / 10)) === 0) console.error(`${stamp}   ${e.configuration} seed ${e.seed}: step ${e.event.step}/${e.event.totalSteps} loss ${e.event.loss.toFixed(4)}, ${minutes(e.event.etaSeconds)} left in this run`);
      break;
    case "finished": {
      const metric = e.result.finalLoss !== undefined ? `validation loss ${e.result.finalLoss.toFixed(4)}` : `MQAR accuracy ${e.result.meanAccuracy!.toFixed(3)}`;
      console.error(`${stamp} [${e.index + 1}/${e.total}] ${e.configuration} seed ${e.seed}: ${metric} (${minutes(e.result.seconds)}); about ${minutes(e.etaSeconds)} left`);
      break;
    }
    case "report":
      console.error(`${stamp} report over seeds ${e.seeds.join(", ")}: ${e.files.table}`);
      break;
  }
}
