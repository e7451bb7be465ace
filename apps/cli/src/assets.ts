import { fileURLToPath } from "node:url";

/** Files shipped with the CLI (the same relative path from src/ in development and dist/ when built). */
export const asset = (name: string): string => fileURLToPath(new URL(`../assets/${name}`, import.meta.url));

/** The embedded default corpus: Karpathy's tinyshakespeare (public-domain Shakespeare, 1.1 MB). */
export const DEFAULT_CORPUS = asset("tinyshakespeare.txt");
