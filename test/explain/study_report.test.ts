/**
 * The study's report (src/explain/study_report.ts), read back from the committed
 * models/reverse/study.svg and checked against models/reverse/study.json: the file is what
 * `studySvg` draws from the JSON; every bar's height is its figure on the plot's scale, in the
 * study's order, in its ablation's colour; every heatmap cell has its figure's colour and text.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkStudy, type StudyScore } from '../../src/explain/study';
import { ABLATION_COLORS, lossColor, rankColor, studySvg } from '../../src/explain/study_report';

const MODELS = path.join(__dirname, '..', '..', 'models');

/** Every element `<tag ...>` of `svg` with the class `className`, as its attributes and the text that follows it. */
function elements(svg: string, tag: string, className: string): Array<Record<string, string> & { after: string }> {
  const found: Array<Record<string, string> & { after: string }> = [];
  const pattern = new RegExp(`<${tag} class="${className}"([^>]*)>`, 'g');
  for (const match of svg.matchAll(pattern)) {
    const attributes = Object.fromEntries(Array.from(match[1].matchAll(/([\w-]+)="([^"]*)"/g), (m) => [m[1], m[2]]));
    found.push({
      ...attributes,
      after: svg.slice(match.index! + match[0].length, match.index! + match[0].length + 300),
    });
  }
  return found;
}

describe.each(['reverse', 'copy', 'sort', 'addition'])('models/%s/study.svg', (name) => {
  const json = checkStudy(JSON.parse(fs.readFileSync(path.join(MODELS, name, 'study.json'), 'utf8')), name);
  const svg = fs.readFileSync(path.join(MODELS, name, 'study.svg'), 'utf8');

  it('is what studySvg draws from study.json', () => {
    expect(svg).toBe(studySvg(json));
  });

  it("every bar's height is its exact match on the plot's scale, in the study's order and colour", () => {
    const [group] = elements(svg, 'g', 'bars');
    const [y0, y1] = [Number(group['data-y0']), Number(group['data-y1'])];
    expect(y0 - y1).toBeGreaterThan(100);
    const bars = elements(svg, 'rect', 'bar');
    const expected: Array<{ ablation: string; path: string; head: string; score: StudyScore }> = json.layers.flatMap(
      (layer) => [
        ...layer.heads.flatMap((head, h) => [
          { ablation: 'removed', path: layer.path, head: String(h), score: head.removed! },
          { ablation: 'meanValues', path: layer.path, head: String(h), score: head.meanValues! },
        ]),
        { ablation: 'layerMeanValues', path: layer.path, head: 'all', score: layer.meanValues! },
      ],
    );
    expect(bars.map((b) => [b['data-ablation'], b['data-path'], b['data-head']])).toEqual(
      expected.map((e) => [e.ablation, e.path, e.head]),
    );
    let previousX = -Infinity;
    bars.forEach((bar, i) => {
      const value = expected[i].score.exactMatch;
      const [x, y, height] = [Number(bar.x), Number(bar.y), Number(bar.height)];
      expect(Math.abs(height - value * (y0 - y1))).toBeLessThan(0.01);
      expect(Math.abs(y + height - y0)).toBeLessThan(0.01);
      expect(bar.fill).toBe(ABLATION_COLORS[bar['data-ablation'] as keyof typeof ABLATION_COLORS]);
      expect(x).toBeGreaterThan(previousX);
      previousX = x;
    });
    // The dashed baseline sits at the baseline's exact match.
    const [baseline] = elements(svg, 'line', 'baseline');
    expect(Math.abs(Number(baseline.y1) - (y0 - json.baseline.exactMatch * (y0 - y1)))).toBeLessThan(0.01);
  });

  it('every heatmap cell has the colour and the text of its figure', () => {
    const cells = elements(svg, 'rect', 'cell');
    const largest = Math.max(json.baseline.loss, ...json.layers.flatMap((l) => l.heads.map((h) => h.removed!.loss)));
    const heads = json.layers.flatMap((layer) => layer.heads.map((head, h) => ({ layer, head, h })));
    const loss = cells.filter((c) => c['data-map'] === 'loss-removed');
    const rank = cells.filter((c) => c['data-map'] === 'ov-rank');
    expect([loss.length, rank.length]).toEqual([heads.length, heads.length]);
    heads.forEach(({ layer, head, h }, i) => {
      expect([loss[i]['data-path'], loss[i]['data-head']]).toEqual([layer.path, String(h)]);
      expect(loss[i].fill).toBe(lossColor(head.removed!.loss, json.baseline.loss, largest));
      expect(loss[i].after).toMatch(new RegExp(`^<text[^>]*>${Number(head.removed!.loss.toPrecision(3))}</text>`));
      expect([rank[i]['data-path'], rank[i]['data-head']]).toEqual([layer.path, String(h)]);
      expect(rank[i].fill).toBe(rankColor(head.ov.effectiveRank, layer.valueDim));
      expect(rank[i].after).toMatch(
        new RegExp(
          `^<text[^>]*>${head.ov.effectiveRank.toFixed(1)}` +
            `<tspan[^>]*> ${head.initialOv!.effectiveRank.toFixed(1)}</tspan>`,
        ),
      );
    });
    // The colour scales say something: the worst loss is darker than the best one.
    const fills = loss.map((c) => c.fill);
    expect(new Set(fills).size).toBeGreaterThan(3);
  });
});
