// The official fixtures through the GPU executor on the interpreter runtime, in every forward form.
import { interp } from "./helpers.js";
import { officialFixtures } from "./official-fixtures.js";

officialFixtures("gpu-interpreter", interp);
