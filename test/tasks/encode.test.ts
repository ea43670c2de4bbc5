import { encodeBatch } from '../../src/tasks/encode';
import { Sample } from '../../src/tasks/samples';
import { createTask } from '../../src/tasks/tasks';

/** Splits a flat row-major array into rows of `width`. */
function rows(flat: Int32Array, width: number): number[][] {
  return Array.from({ length: flat.length / width }, (_, r) => Array.from(flat.subarray(r * width, (r + 1) * width)));
}

describe('encodeBatch', () => {
  it('pads a hand example: PAD = 0 right, BOS = 1 first in the decoder input, EOS = 2 after the target', () => {
    const task = createTask('reverse', { maxLen: 5 }); // sourceLength 5, targetLength 6
    const samples: Sample[] = [
      { source: [6, 4, 7], target: [7, 4, 6] }, // "314" -> "413"
      { source: [3, 4, 5, 6, 7], target: [7, 6, 5, 4, 3] }, // longest source fills its row
    ];
    const batch = encodeBatch(task, samples);
    expect([batch.batchSize, batch.sourceLength, batch.targetLength]).toEqual([2, 5, 6]);
    expect(batch.source).toBeInstanceOf(Int32Array);
    expect(rows(batch.source, 5)).toEqual([
      [6, 4, 7, 0, 0],
      [3, 4, 5, 6, 7],
    ]);
    expect(rows(batch.decoderInput, 6)).toEqual([
      [1, 7, 4, 6, 0, 0],
      [1, 7, 6, 5, 4, 3],
    ]);
    expect(rows(batch.decoderTarget, 6)).toEqual([
      [7, 4, 6, 2, 0, 0],
      [7, 6, 5, 4, 3, 2],
    ]);
  });

  it('pads addition to 2D + 1 and D + 2', () => {
    const task = createTask('addition');
    const sources = ['123+99', '999+999', '0+0'].map((text) => task.stringToTokens(text));
    const batch = encodeBatch(
      task,
      sources.map((source) => ({ source, target: task.solve(source) })),
    );
    expect(rows(batch.source, 7)).toEqual([
      [4, 5, 6, 13, 12, 12, 0],
      [12, 12, 12, 13, 12, 12, 12],
      [3, 13, 3, 0, 0, 0, 0],
    ]);
    expect(rows(batch.decoderInput, 5)).toEqual([
      [1, 5, 5, 5, 0], // <bos> 2 2 2
      [1, 4, 12, 12, 11], // <bos> 1 9 9 8
      [1, 3, 0, 0, 0],
    ]);
    expect(rows(batch.decoderTarget, 5)).toEqual([
      [5, 5, 5, 2, 0],
      [4, 12, 12, 11, 2],
      [3, 2, 0, 0, 0],
    ]);
  });

  it('rejects empty batches, bad sources and targets that do not fit', () => {
    const task = createTask('copy');
    expect(() => encodeBatch(task, [])).toThrow('encodeBatch: samples must be a non-empty array of samples, got []');
    const good = { source: [3, 4], target: [3, 4] };
    expect(() => encodeBatch(task, [good, { source: [3, 0], target: [3] }])).toThrow(
      'encodeBatch: samples[1]: copy: source[1] = 0 (<pad>) is not a symbol id; expected an integer in [3, 12]',
    );
    expect(() => encodeBatch(task, [good, { source: [3, 4], target: new Array(13).fill(3) }])).toThrow(
      'encodeBatch: samples[1].target must be an array of at most 12 symbol ids (targetLength - 1), got length 13',
    );
    expect(() => encodeBatch(task, [{ source: [3, 4], target: [3, 4, 2] }])).toThrow(
      'encodeBatch: samples[0].target[2] = 2 is not a symbol id; expected an integer in [3, 12]',
    );
  });
});
