/**
 * The ablation study of a trained model (src/explain/study.ts, src/train/study.ts): held-out exact
 * match and loss with each attention head removed, with each head's and each layer's values
 * replaced by their mean, and every head's OV spectrum. Writes study.json and study.svg into the
 * model folder (or --out) and prints a table.
 *
 *     npm run study -- --model models/reverse
 *     npm run study -- --model models/sort --count 128 --out /tmp/sort-study
 *
 * Exit codes: 0 done; 1 the model folder cannot be used (the message names the file); 2 bad command line.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { BACKEND_CHOICES, initBackend } from '../src/backend';
import { roundStudy, studyJson } from '../src/explain/study';
import { studySvg, studyTable } from '../src/explain/study_report';
import { atomicWriteFile } from '../src/io/atomic';
import { loadSeq2Seq } from '../src/model/seq2seq';
import { checkFlagNames } from '../src/train/options';
import { studySeq2Seq } from '../src/train/study';
import { runMain, UsageError } from './cli';

/** The flags: name, type, default and help, in one table (usage and parsing come from it). */
const FLAGS = {
  model: { type: 'string', default: '', help: 'model folder with model.json, weights.bin and task.json (required)' },
  count: { type: 'string', default: '', help: 'score on the first N held-out samples only (default all 512)' },
  out: { type: 'string', default: '', help: 'folder for study.json and study.svg (default: the model folder)' },
  backend: {
    type: 'string',
    default: 'auto',
    help: `${BACKEND_CHOICES.filter((b) => b !== 'webgl').join(' | ')} (default auto)`,
  },
  help: { type: 'boolean', default: false, help: 'this text' },
} as const;

const USAGE = [
  'Usage: npm run study -- --model DIR [options]',
  '',
  'Held-out exact match and loss with each attention head removed and with values replaced by their',
  'mean, and the OV spectrum of every head; writes study.json and study.svg and prints a table.',
  '',
  'Options:',
  ...Object.entries(FLAGS).map(
    ([name, flag]) => `  --${`${name}${flag.type === 'string' ? ' X' : ''}`.padEnd(12)} ${flag.help}`,
  ),
].join('\n');

async function main(argv: string[]): Promise<number> {
  // --- Arguments -----------------------------------------------------------------------------
  checkFlagNames(argv, FLAGS);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const model = values.model as string;
  if (model.trim() === '')
    throw new UsageError('--model is required: the folder of a trained model, e.g. models/reverse');
  const countText = values.count as string;
  const count = countText === '' ? undefined : Number(countText);
  if (count !== undefined && (!Number.isInteger(count) || count < 1 || count > 512)) {
    throw new UsageError(`--count must be an integer in [1, 512], got '${countText}'`);
  }
  const backends = BACKEND_CHOICES.filter((b) => b !== 'webgl') as readonly string[];
  if (!backends.includes(values.backend as string)) {
    throw new UsageError(`--backend must be one of ${backends.join(', ')}, got '${values.backend}'`);
  }
  const out = (values.out as string) === '' ? model : (values.out as string);
  await initBackend(values.backend as string);

  // --- Model and study -----------------------------------------------------------------------
  const seq2seq = await loadSeq2Seq(model);
  const started = Date.now();
  const study = await studySeq2Seq(seq2seq, {
    model: model.replace(/\/+$/, ''),
    count,
    onScore: (done, total, what, score) =>
      progress(`${done}/${total} ${what}: exact match ${score.exactMatch.toFixed(4)}`),
  });
  progress(`studied in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (process.stderr.isTTY) process.stderr.write('\n');
  seq2seq.dispose();

  // --- Save and print ------------------------------------------------------------------------
  const rounded = roundStudy(study);
  await atomicWriteFile(path.join(out, 'study.json'), studyJson(rounded));
  await atomicWriteFile(path.join(out, 'study.svg'), studySvg(rounded));
  console.log(studyTable(rounded));
  console.log(`\nwrote ${path.join(out, 'study.json')} and ${path.join(out, 'study.svg')}`);
  return 0;
}

/** One line of progress on stderr: rewritten in place on a terminal, one line each elsewhere (a log). */
function progress(line: string): void {
  process.stderr.write(process.stderr.isTTY ? `\r${line.padEnd(100).slice(0, 100)}` : `${line}\n`);
}

runMain(main, 'npm run study -- --help');
