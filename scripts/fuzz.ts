/**
 * A fuzzing campaign against the model loaders: the regression corpus of issue 29, then seeded,
 * structure-aware mutations of the repository's fixtures (scripts/fuzz/mutate.ts) until the time
 * is up, each load in a child process with a time and a memory limit; prints the tables of
 * scripts/fuzz/report.ts. Failing cases are kept under --keep for reproduction.
 *
 *     npm run fuzz -- --minutes 30 --seed 7
 *     npm run fuzz -- --cases 500 --jobs 2 --timeout 5000 --memory 256 --keep /tmp/fuzz-failures
 *     FUZZ_LIB=/tmp/other.js npm run fuzz -- --cases 0   # issue 29's cases against another build
 *
 * (another build: `npx esbuild <checkout>/src/index.ts --bundle --platform=node
 * --external:@tensorflow/* --ignore-annotations --outfile=/tmp/other.js`)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { FuzzCase } from './fuzz/cases';
import { mutationCases } from './fuzz/mutate';
import { regressionCases } from './fuzz/regressions';
import { failureTable, summaryTable } from './fuzz/report';
import { DEFAULT_RUN, FAILURES, Outcome, runCases } from './fuzz/runner';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    cases: { type: 'string' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 32) },
    jobs: { type: 'string', default: String(DEFAULT_RUN.jobs) },
    timeout: { type: 'string', default: String(DEFAULT_RUN.timeoutMs) },
    memory: { type: 'string', default: String(DEFAULT_RUN.memoryMB) },
    keep: { type: 'string', default: path.join(os.tmpdir(), 'tfjs-attention-fuzz-failures') },
  },
});
const seed = Number(values.seed);
const deadline = Date.now() + Number(values.minutes) * 60_000;
const maxCases = values.cases == null ? Infinity : Number(values.cases);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-fuzz-'));
const regressions = regressionCases(root);
const mutations = mutationCases(seed, root, regressions.length);
let started = 0;
const next = (): FuzzCase | null => {
  if (started < regressions.length) return regressions[started++];
  if (started - regressions.length >= maxCases || Date.now() > deadline) return null;
  started++;
  return mutations();
};

let lastReport = Date.now();
const outcomes: Outcome[] = [];
const onOutcome = (outcome: Outcome) => {
  outcomes.push(outcome);
  if (FAILURES.includes(outcome.kind)) {
    const kept = path.join(values.keep!, `seed-${seed}-case-${outcome.case.id}`);
    fs.mkdirSync(values.keep!, { recursive: true });
    fs.writeFileSync(`${kept}.json`, JSON.stringify(outcome, null, 2));
    console.log(
      `FAIL ${outcome.kind}: ${outcome.case.loader} ${outcome.case.fixture}: ${outcome.case.how} -> ` +
        outcome.message.slice(0, 200),
    );
  }
  if (Date.now() - lastReport > 60_000) {
    lastReport = Date.now();
    const failed = outcomes.filter((o) => FAILURES.includes(o.kind)).length;
    console.log(`${new Date().toISOString()} ${outcomes.length} cases, ${failed} failures`);
  }
};

void (async () => {
  const began = Date.now();
  console.log(
    `fuzzing with seed ${seed}: ${regressions.length} regression cases, then mutations for ${values.minutes} min`,
  );
  await runCases(next, {
    jobs: Number(values.jobs),
    timeoutMs: Number(values.timeout),
    memoryMB: Number(values.memory),
    onOutcome,
  });
  fs.rmSync(root, { recursive: true, force: true });
  const minutes = ((Date.now() - began) / 60_000).toFixed(1);
  console.log(
    `\n## ${outcomes.length} loads in ${minutes} min ` +
      `(seed ${seed}, ${values.jobs} jobs, ${values.timeout} ms, ${values.memory} MB)\n`,
  );
  console.log(summaryTable(outcomes));
  console.log('\n### Failures\n');
  console.log(failureTable(outcomes));
  process.exitCode = outcomes.some((o) => FAILURES.includes(o.kind)) ? 1 : 0;
})();
