/**
 * The README shows the examples' model code; the tests in this folder run it.
 * This keeps the two identical: every `// README:begin NAME` ... `// README:end`
 * block of an example test must appear verbatim in README.md.
 */
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '../..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function readmeBlocks(file: string): Array<[string, string]> {
  const text = fs.readFileSync(path.join(__dirname, file), 'utf8');
  return [...text.matchAll(/\/\/ README:begin (\S+)\n([\s\S]*?)\/\/ README:end/g)].map((m) => [m[1], m[2]]);
}

const blocks = fs
  .readdirSync(__dirname)
  .filter((file) => file.endsWith('.test.ts'))
  .flatMap((file) => readmeBlocks(file).map(([name, code]) => [`${file}: ${name}`, code] as [string, string]));

it('finds the five example blocks', () => {
  expect(blocks.map(([name]) => name).sort()).toEqual([
    'cross_attention.test.ts: cross-attention',
    'gpt_decoder.test.ts: gpt',
    'sequence_classifier.test.ts: adam',
    'sequence_classifier.test.ts: sequence-classifier',
    'sequence_classifier.test.ts: sequential-classifier',
  ]);
});

it.each(blocks)('README.md shows %s verbatim', (_name, code) => {
  expect(readme).toContain('```ts\n' + code + '```');
});
