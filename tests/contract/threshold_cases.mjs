// node threshold_cases.mjs <compiled frontend/src/threshold.js> <threshold_cases.json>: the dashboard's
// answer to each case, as a JSON array (tests/contract/test_threshold.py compares them).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const { timeAbove } = await import(pathToFileURL(process.argv[2]).href);
const { cases } = JSON.parse(readFileSync(process.argv[3], "utf8"));
console.log(JSON.stringify(cases.map((c) => timeAbove(c.samples, c.threshold))));
