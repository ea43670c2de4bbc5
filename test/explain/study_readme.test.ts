/**
 * The README's findings of the ablation study ("Look inside any model", one item per shipped
 * model) quote the models' committed study.json: every decimal figure of a model's item is one of
 * its study's figures as shown (an exact match or what a head costs, to 3 digits; an effective
 * rank, to 1; a largest singular value, to 2, or to 1 before training).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkStudy } from '../../src/explain/study';
import { TASK_NAMES } from '../../src/tasks/tasks';
import { readmeSection, readReadme } from '../helpers/readme_tables';

const ROOT = path.join(__dirname, '..', '..');
const section = readmeSection(readReadme(), 'Look inside any model');

/** Every figure of a study as the README may show it. */
function shownFigures(task: string): Set<string> {
  const file = path.join(ROOT, 'models', task, 'study.json');
  const study = checkStudy(JSON.parse(fs.readFileSync(file, 'utf8')), file);
  const baseline = study.baseline.exactMatch;
  const scores = [
    study.baseline,
    ...study.layers.flatMap((l) => [l.meanValues, ...l.heads.flatMap((h) => [h.removed, h.meanValues])]),
  ].filter((s) => s !== null);
  const heads = study.layers.flatMap((l) => l.heads);
  return new Set([
    ...scores.flatMap((s) => [s.exactMatch.toFixed(3), (baseline - s.exactMatch).toFixed(3)]),
    ...heads.flatMap((h) => [h.ov.effectiveRank.toFixed(1), h.initialOv!.effectiveRank.toFixed(1)]),
    ...heads.flatMap((h) => [h.ov.singularValues[0].toFixed(2), h.initialOv!.singularValues[0].toFixed(1)]),
  ]);
}

describe.each([...TASK_NAMES])('the README on models/%s/study.json', (task) => {
  it('quotes only figures of the study', () => {
    const item = section.split('\n- ').find((text) => text.startsWith(`**${task}**`));
    expect(item).toBeDefined();
    const figures = item!.match(/\d+\.\d+/g)!;
    expect(figures.length).toBeGreaterThan(5);
    const shown = shownFigures(task);
    expect(figures.filter((f) => !shown.has(f))).toEqual([]);
  });
});
