/**
 * The README shows the examples' model code; the tests in this folder run it. This keeps the two
 * identical: every `// README:begin NAME` ... `// README:end` region of an example test is a
 * TypeScript block of README.md, verbatim after the block's imports (which the README writes from
 * 'tfjs-attention', the tests from the sources). test/readme_code.test.ts compiles every block.
 */
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '../..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function readmeRegions(file: string): Array<[string, string]> {
  const text = fs.readFileSync(path.join(__dirname, file), 'utf8');
  return [...text.matchAll(/\/\/ README:begin (\S+)\n([\s\S]*?)\/\/ README:end/g)].map((m) => [m[1], m[2]]);
}

const regions = fs
  .readdirSync(__dirname)
  .filter((file) => file.endsWith('.test.ts'))
  .flatMap((file) => readmeRegions(file).map(([name, code]) => [`${file}: ${name}`, code] as [string, string]));

/** The README's TypeScript blocks, as written between the fences. */
const readmeBlocks = [...readme.matchAll(/```ts[^\n]*\n([\s\S]*?)```/g)].map((m) => m[1]);

it('finds the four example regions', () => {
  expect(regions.map(([name]) => name).sort()).toEqual([
    'cross_attention.test.ts: cross-attention',
    'gpt_decoder.test.ts: gpt',
    'sequence_classifier.test.ts: adam',
    'sequence_classifier.test.ts: sequence-classifier',
  ]);
});

it.each(regions)('README.md shows %s verbatim, after its imports', (_name, code) => {
  const block = readmeBlocks.find((b) => b.endsWith(code));
  expect(block).toBeDefined();
  const imports = block!.slice(0, block!.length - code.length);
  expect(imports).toMatch(/^(import [^\n]* from '[^']+';\n)+\n$/);
});
