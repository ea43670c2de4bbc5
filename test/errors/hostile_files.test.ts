/**
 * Hostile model files (issue 29): the reproductions of the table rebuilt from the
 * repository's fixtures (scripts/fuzz/regressions.ts), then 300 seeded, structure-aware mutations of
 * the fixtures (scripts/fuzz/mutate.ts), each loaded in a child process with the fuzzer's limits: 5 s
 * and 256 MB of resident memory beyond what the child held before the load. Every regression case
 * must be refused with its expected message; every mutation must load, or be refused with an Error
 * that names the file and says what is wrong. `npm run fuzz` runs longer campaigns.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FuzzCase } from '../../scripts/fuzz/cases';
import { mutationCases } from '../../scripts/fuzz/mutate';
import { regressionCases, ROWS } from '../../scripts/fuzz/regressions';
import { failureTable } from '../../scripts/fuzz/report';
import { DEFAULT_RUN, FAILURES, judge, Outcome, runCases } from '../../scripts/fuzz/runner';

const SEED = 29;
const MUTATIONS = 300;

let root: string;
let regressions: Outcome[];
let mutations: Outcome[];

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-files-'));
  const rows = regressionCases(root);
  const more = mutationCases(SEED, root, rows.length, MUTATIONS);
  let i = 0;
  const outcomes = await runCases(() => (i < rows.length ? rows[i++] : more()), DEFAULT_RUN);
  regressions = outcomes.filter((o) => o.case.id < rows.length);
  mutations = outcomes.filter((o) => o.case.id >= rows.length);
}, 240_000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("issue 29's table from the fixtures: a clean refusal each, in a child process within 5 s and 256 MB", () => {
  it.each(ROWS.map((row) => [row.what, row] as const))('%s', (_what, row) => {
    const mine = regressions.filter((o) => o.case.how === row.what);
    expect(mine.map((o) => o.case.loader).sort()).toEqual([...row.loaders].sort());
    for (const o of mine) {
      expect([o.case.loader, o.kind, o.message]).toEqual([
        o.case.loader,
        'refused',
        expect.stringContaining(row.expect),
      ]);
    }
  });
});

describe(`${MUTATIONS} seeded mutations of the fixtures (seed ${SEED})`, () => {
  it('each loads, or is refused with an Error naming the file, within the limits', () => {
    const failures = mutations.filter((o) => FAILURES.includes(o.kind));
    expect(failureTable(failures)).toBe(failureTable([]));
    expect(mutations).toHaveLength(MUTATIONS);
  });

  it('reach every loader, and both ends: some load, most are refused', () => {
    const count = (kind: string) => mutations.filter((o) => o.kind === kind).length;
    expect(new Set(mutations.map((o) => o.case.loader))).toEqual(new Set(['keras', 'seq2seq', 'file']));
    expect(count('loaded')).toBeGreaterThan(MUTATIONS / 10);
    expect(count('refused')).toBeGreaterThan(MUTATIONS / 2);
  });
});

describe('the judge of an outcome', () => {
  const c: FuzzCase = { id: 0, loader: 'keras', target: '/tmp/x/model.keras', dir: '/tmp/x', fixture: 'f', how: 'h' };
  const result = {
    id: 0,
    status: 'threw' as const,
    isError: true,
    errorClass: 'Error',
    ms: 5,
    peakMB: 3,
    tensorsLeft: 0,
  };
  it.each([
    ['/tmp/x/model.keras: the HDF5 file has a datatype of size 0', 'refused'],
    ["layer 'a' (Dense): tfjs cannot build it", 'unclear'], // no file
    ["/tmp/x/model.keras: Cannot read properties of undefined (reading 'name')", 'unclear'],
    ['/tmp/x/model.keras: needs NaN bytes', 'unclear'],
    [`/tmp/x/model.keras: ${'x'.repeat(1000)}`, 'unclear'],
    ["/tmp/x/model.keras: layer 'd' (Dense): tfjs cannot build it from its config (tfjs: t is undefined)", 'refused'],
    ["/tmp/x/model.keras: layer 'd': dtype policy null is not supported; tfjs computes layers in float32", 'refused'],
    ["/tmp/x/model.keras: null is not an object (evaluating 'config.name')", 'unclear'],
  ])('%s -> %s', (message, kind) => {
    expect(judge(c, { ...result, message }, 256).kind).toBe(kind);
  });

  it('a thrown string, a leak, too much memory and a success', () => {
    expect(judge(c, { ...result, isError: false, message: 'oops' }, 256).kind).toBe('non-error');
    expect(judge(c, { ...result, tensorsLeft: 2, message: '/tmp/x/model.keras: bad' }, 256).kind).toBe('leak');
    expect(judge(c, { ...result, peakMB: 300, message: '/tmp/x/model.keras: bad' }, 256).kind).toBe('memory');
    expect(judge(c, { ...result, status: 'loaded', message: '' }, 256).kind).toBe('loaded');
  });
});
