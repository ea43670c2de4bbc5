import { Random } from '../../src/tasks/random';
import { createTask, Task, TASK_NAMES, TaskName, TaskOptions } from '../../src/tasks/tasks';
import { BOS, EOS, FIRST_SYMBOL, PAD } from '../../src/tasks/vocabulary';

/** Task text -> text, through ids. */
function solveText(task: Task, text: string): string {
  return task.tokensToString(task.solve(task.stringToTokens(text)));
}

function sampleMany(task: Task, count: number, seed = 1): number[][] {
  const rng = new Random(seed);
  return Array.from({ length: count }, () => task.sampleSource(rng));
}

describe('createTask', () => {
  it('runs the doc comment example', () => {
    const task = createTask('reverse');
    const source = task.stringToTokens('3 1 4');
    expect(source).toEqual([6, 4, 7]);
    expect(task.tokensToString(task.solve(source))).toBe('413');
    const sample = task.sampleSource(new Random(7));
    expect(sample.length).toBeGreaterThanOrEqual(2);
    expect(sample.length).toBeLessThanOrEqual(12);
  });

  it('has the defaults and sizes of the toy tasks (README, "Toy tasks")', () => {
    for (const name of ['copy', 'reverse', 'sort'] as const) {
      const task = createTask(name);
      expect(task.name).toBe(name);
      expect(task.options).toEqual({ numSymbols: 10, minLen: 2, maxLen: 12 });
      expect(task.numSymbols).toBe(10);
      expect(task.symbols.join('')).toBe('0123456789');
      expect(task.vocabularySize).toBe(13);
      expect(task.maxSourceLength).toBe(12);
      expect(task.maxTargetLength).toBe(13);
    }
    const addition = createTask('addition');
    expect(addition.options).toEqual({ digits: 3 });
    expect(addition.numSymbols).toBe(11);
    expect(addition.symbols).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+']);
    expect(addition.vocabularySize).toBe(14);
    expect(addition.maxSourceLength).toBe(7); // 999+999
    expect(addition.maxTargetLength).toBe(5); // 1998 has 4 digits, + 1
  });

  it('derives sizes from custom options', () => {
    const copy = createTask('copy', { numSymbols: 26, minLen: 1, maxLen: 5 });
    expect(copy.symbols.join('')).toBe('0123456789ABCDEFGHIJKLMNOP');
    expect([copy.vocabularySize, copy.maxSourceLength, copy.maxTargetLength]).toEqual([29, 5, 6]);
    expect(createTask('sort', { numSymbols: 62 }).symbols.slice(-3)).toEqual(['x', 'y', 'z']);
    const addition = createTask('addition', { digits: 5 });
    expect([addition.vocabularySize, addition.maxSourceLength, addition.maxTargetLength]).toEqual([14, 11, 7]);
  });

  it('rebuilds the same task from its name and options', () => {
    for (const name of TASK_NAMES) {
      const task = createTask(name, name === 'addition' ? { digits: 2 } : { numSymbols: 5, maxLen: 7 });
      const again = createTask(task.name, { ...task.options });
      expect(again.options).toEqual(task.options);
      expect(sampleMany(again, 20)).toEqual(sampleMany(task, 20));
    }
  });

  it('treats an explicit undefined option as the default', () => {
    expect(createTask('copy', { maxLen: undefined, digits: undefined }).options.maxLen).toBe(12);
  });

  it('rejects invalid arguments naming the argument, the value and what was expected', () => {
    const numSymbolsMessage =
      'createTask: numSymbols must be an integer in [1, 62] (one display character per symbol), got ';
    const copyOptions = "known options: 'numSymbols', 'minLen', 'maxLen'";
    const cases: Array<[string, TaskOptions | undefined, string]> = [
      ['copyy', {}, "createTask: unknown task 'copyy'; expected one of copy, reverse, sort, addition"],
      ['copy', null as unknown as TaskOptions, 'createTask: options must be an object, got null'],
      ['copy', { numSymbols: 0 }, `${numSymbolsMessage}0`],
      ['copy', { numSymbols: 63 }, `${numSymbolsMessage}63`],
      ['copy', { numSymbols: 2.5 }, `${numSymbolsMessage}2.5`],
      ['copy', { numSymbols: '10' as unknown as number }, `${numSymbolsMessage}'10'`],
      ['reverse', { minLen: 0 }, 'createTask: minLen must be an integer >= 1, got 0'],
      ['reverse', { minLen: NaN }, 'createTask: minLen must be an integer >= 1, got NaN'],
      ['sort', { minLen: 5, maxLen: 4 }, 'createTask: maxLen must be an integer >= minLen (5), got 4'],
      ['sort', { maxLen: 1 }, 'createTask: maxLen must be an integer >= minLen (2), got 1'],
      ['addition', { digits: 0 }, 'createTask: digits must be an integer >= 1, got 0'],
      ['addition', { digits: Infinity }, 'createTask: digits must be an integer >= 1, got Infinity'],
      ['addition', { maxLen: 5 }, "createTask('addition'): unknown option 'maxLen'; known options: 'digits'"],
      ['copy', { digits: 3 }, `createTask('copy'): unknown option 'digits'; ${copyOptions}`],
      ['copy', { maxlen: 3 } as TaskOptions, "createTask('copy'): unknown option 'maxlen' (did you mean 'maxLen'?)"],
    ];
    for (const [name, options, message] of cases) {
      expect(() => createTask(name as TaskName, options)).toThrow(message);
    }
  });
});

describe('solve', () => {
  it('holds the worked examples of the README ("Toy tasks")', () => {
    expect(solveText(createTask('reverse'), '3 1 4')).toBe('413');
    expect(solveText(createTask('sort'), '3 1 4 1')).toBe('1134');
    expect(solveText(createTask('addition'), '1 2 3 + 9 9')).toBe('222');
    // The same in ids: symbol d has id 3 + d.
    expect(createTask('reverse').solve([6, 4, 7])).toEqual([7, 4, 6]);
    expect(createTask('sort').solve([6, 4, 7, 4])).toEqual([4, 4, 6, 7]);
  });

  it('copies, reverses and sorts symbol ids', () => {
    expect(solveText(createTask('copy'), '90210')).toBe('90210');
    expect(solveText(createTask('reverse', { numSymbols: 62 }), 'aZ09z')).toBe('z90Za');
    expect(solveText(createTask('sort', { numSymbols: 62 }), 'zaZA90')).toBe('09AZaz');
    const source = [5, 3, 5, 4];
    createTask('sort').solve(source);
    expect(source).toEqual([5, 3, 5, 4]); // the input is left alone
  });

  it('adds with carries, zero and the largest operands', () => {
    const addition = createTask('addition');
    expect(solveText(addition, '999+999')).toBe('1998');
    expect(solveText(addition, '0+0')).toBe('0');
    expect(solveText(addition, '5+5')).toBe('10');
    expect(solveText(addition, '0+120')).toBe('120');
    expect(solveText(addition, '1+999')).toBe('1000');
  });

  it('agrees with BigInt addition for 20-digit operands', () => {
    const addition = createTask('addition', { digits: 20 });
    const sources = sampleMany(addition, 200);
    const sums = sources.map((source) => {
      const [a, b] = addition.tokensToString(source).split('+');
      return (BigInt(a) + BigInt(b)).toString();
    });
    expect(sources.map((source) => addition.tokensToString(addition.solve(source)))).toEqual(sums);
    expect(Math.max(...sums.map((sum) => sum.length))).toBeGreaterThanOrEqual(20);
  });
});

describe('sampleSource', () => {
  it('draws lengths uniformly over [minLen, maxLen] and every symbol', () => {
    const task = createTask('copy');
    const sources = sampleMany(task, 11000);
    const lengthCounts = new Array(13).fill(0);
    const symbolCounts = new Array(13).fill(0);
    for (const source of sources) {
      lengthCounts[source.length]++;
      for (const id of source) symbolCounts[id]++;
    }
    expect(lengthCounts.slice(0, 2)).toEqual([0, 0]);
    for (let n = 2; n <= 12; n++) expect(Math.abs(lengthCounts[n] - 1000)).toBeLessThan(130);
    expect(symbolCounts.slice(0, FIRST_SYMBOL)).toEqual([0, 0, 0]);
    const totalSymbols = symbolCounts.reduce((s, c) => s + c, 0);
    for (let id = FIRST_SYMBOL; id < 13; id++) expect(symbolCounts[id] / totalSymbols).toBeCloseTo(0.1, 2);
  });

  it('draws addition operands uniformly in [0, 999], without leading zeros', () => {
    const addition = createTask('addition');
    const operands = sampleMany(addition, 20000).flatMap((s) => addition.tokensToString(s).split('+'));
    expect(operands.filter((operand) => !/^(0|[1-9][0-9]{0,2})$/.test(operand))).toEqual([]);
    const values = operands.map(Number);
    expect(Math.min(...values)).toBe(0);
    expect(Math.max(...values)).toBe(999);
    expect(values.reduce((s, v) => s + v, 0) / values.length).toBeGreaterThan(495);
    expect(values.reduce((s, v) => s + v, 0) / values.length).toBeLessThan(504);
    // Uniform in value, not in length: one- and two-digit numbers are 1% and 9% of draws.
    expect(values.filter((v) => v < 10).length / values.length).toBeCloseTo(0.01, 2);
    expect(values.filter((v) => v >= 10 && v < 100).length / values.length).toBeCloseTo(0.09, 2);
  });

  it('draws length-balanced addition operands: digit counts uniform, values uniform within a length', () => {
    const addition = createTask('addition');
    const rng = new Random(3);
    const sources = Array.from({ length: 30000 }, () => addition.sampleLengthBalancedSource(rng));
    sources.forEach((source) => addition.validateSource(source)); // every draw is a source of the task
    const operands = sources.flatMap((s) => addition.tokensToString(s).split('+'));
    for (const digits of [1, 2, 3]) {
      const ofLength = operands.filter((operand) => operand.length === digits).map(Number);
      expect(ofLength.length / operands.length).toBeCloseTo(1 / 3, 2);
      const [low, high] = [digits === 1 ? 0 : 10 ** (digits - 1), 10 ** digits - 1];
      expect([Math.min(...ofLength), Math.max(...ofLength)]).toEqual([low, high]);
      expect(ofLength.reduce((a, b) => a + b, 0) / ofLength.length / ((low + high) / 2)).toBeCloseTo(1, 1);
    }
  });

  it('draws length-balanced copy, reverse and sort sources as sampleSource does (lengths are uniform)', () => {
    for (const name of ['copy', 'reverse', 'sort'] as const) {
      const task = createTask(name);
      const [a, b] = [new Random(9), new Random(9)];
      const balanced = Array.from({ length: 20 }, () => task.sampleLengthBalancedSource(a));
      expect(balanced).toEqual(Array.from({ length: 20 }, () => task.sampleSource(b)));
    }
  });

  it('is deterministic for a generator seed', () => {
    for (const name of TASK_NAMES) {
      const task = createTask(name);
      expect(sampleMany(task, 50, 4)).toEqual(sampleMany(task, 50, 4));
      expect(sampleMany(task, 50, 5)).not.toEqual(sampleMany(task, 50, 4));
    }
  });

  it('sourceProbability sums to 1 and matches sampling frequencies', () => {
    const tiny = createTask('copy', { numSymbols: 2, minLen: 1, maxLen: 2 });
    const all = [[3], [4], [3, 3], [3, 4], [4, 3], [4, 4]];
    expect(all.map((s) => tiny.sourceProbability(s))).toEqual([0.25, 0.25, 0.125, 0.125, 0.125, 0.125]);
    const counts = new Map<string, number>();
    for (const s of sampleMany(tiny, 16000)) counts.set(s.join(), (counts.get(s.join()) ?? 0) + 1);
    const errors = all.map((s) => Math.abs(counts.get(s.join())! / 16000 - tiny.sourceProbability(s)));
    expect(Math.max(...errors)).toBeLessThan(0.015);
    const addition = createTask('addition', { digits: 1 });
    expect(addition.sourceProbability(addition.stringToTokens('7+0'))).toBeCloseTo(0.01, 12);
    expect(tiny.sourceProbability([3, 3, 3])).toBe(0);
    expect(addition.sourceProbability(addition.stringToTokens('07+0'))).toBe(0);
  });
});

describe('validateSource', () => {
  it('accepts exactly the sources that sampleSource can return (addition, D = 1)', () => {
    const addition = createTask('addition', { digits: 1 });
    const sampled = new Set(sampleMany(addition, 5000).map((s) => s.join()));
    expect(sampled.size).toBe(100); // all of "a+b", a, b in 0..9
    let accepted = 0;
    const disagreements: Array<[number[], boolean]> = [];
    // Every id sequence of length 0..3 over the whole vocabulary (and a few out of it).
    const ids = Array.from({ length: addition.vocabularySize + 1 }, (_, i) => i);
    const sequences: number[][] = [[]];
    for (let len = 1; len <= 3; len++) {
      for (const prefix of sequences.filter((s) => s.length === len - 1)) {
        for (const id of ids) sequences.push([...prefix, id]);
      }
    }
    for (const source of sequences) {
      let valid = true;
      try {
        addition.validateSource(source);
      } catch {
        valid = false;
      }
      if (valid !== sampled.has(source.join())) disagreements.push([source, valid]);
      if (valid) accepted++;
    }
    expect(disagreements).toEqual([]);
    expect(accepted).toBe(100);
  });

  it('names the bad id or length and the allowed range', () => {
    const reverse = createTask('reverse');
    const cases: Array<[unknown, string]> = [
      [[], 'reverse: source has length 0; expected a length in [2, 12]'],
      [[3], 'reverse: source has length 1; expected a length in [2, 12]'],
      [new Array(13).fill(3), 'reverse: source has length 13; expected a length in [2, 12]'],
      [[3, PAD], 'reverse: source[1] = 0 (<pad>) is not a symbol id; expected an integer in [3, 12]'],
      [[BOS, 3], 'reverse: source[0] = 1 (<bos>) is not a symbol id; expected an integer in [3, 12]'],
      [[3, 4, EOS], 'reverse: source[2] = 2 (<eos>) is not a symbol id; expected an integer in [3, 12]'],
      [[3, 13], 'reverse: source[1] = 13 is not a symbol id; expected an integer in [3, 12]'],
      [[3, -1], 'reverse: source[1] = -1 is not a symbol id; expected an integer in [3, 12]'],
      [[3, 3.5], 'reverse: source[1] = 3.5 is not a symbol id; expected an integer in [3, 12]'],
      [[NaN, 3], 'reverse: source[0] = NaN is not a symbol id; expected an integer in [3, 12]'],
      [[3, '4'], "reverse: source[1] = '4' is not a symbol id; expected an integer in [3, 12]"],
      ['34', "reverse: source must be an array of symbol ids, got '34'"],
      [undefined, 'reverse: source must be an array of symbol ids, got undefined (missing)'],
    ];
    for (const [source, message] of cases) {
      expect(() => reverse.validateSource(source as number[])).toThrow(message);
      expect(() => reverse.solve(source as number[])).toThrow(message);
    }
  });

  it('names what is wrong with an addition source', () => {
    const addition = createTask('addition');
    const noLeadingZero = 'expected none (0 itself is "0")';
    const cases: Array<[string, string]> = [
      ['12', 'addition: source has length 2; expected a length in [3, 7]'],
      ['1234+567', 'addition: source has length 8; expected a length in [3, 7]'],
      ['12399', `addition: source "12399" must contain exactly one '+'; found 0`],
      ['1+2+3', `addition: source "1+2+3" must contain exactly one '+'; found 2`],
      ['+123', 'addition: the first operand "" of source "+123" has 0 digits; expected 1 to 3 (digits = 3)'],
      ['12+', 'addition: the second operand "" of source "12+" has 0 digits; expected 1 to 3 (digits = 3)'],
      ['1234+5', 'addition: the first operand "1234" of source "1234+5" has 4 digits; expected 1 to 3 (digits = 3)'],
      ['5+1234', 'addition: the second operand "1234" of source "5+1234" has 4 digits; expected 1 to 3 (digits = 3)'],
      ['012+5', `addition: the first operand "012" of source "012+5" has a leading zero; ${noLeadingZero}`],
      ['5+00', `addition: the second operand "00" of source "5+00" has a leading zero; ${noLeadingZero}`],
    ];
    for (const [text, message] of cases) {
      expect(() => addition.validateSource(addition.stringToTokens(text))).toThrow(message);
    }
    expect(() => addition.validateSource([4, 13, 14])).toThrow(
      'addition: source[2] = 14 is not a symbol id; expected an integer in [3, 13]',
    );
  });
});

describe('tokensToString and stringToTokens', () => {
  it('round-trip symbols and special tokens', () => {
    const copy = createTask('copy');
    const ids = [BOS, 6, 4, 7, EOS, PAD, PAD];
    expect(copy.tokensToString(ids)).toBe('<bos>314<eos><pad><pad>');
    expect(copy.stringToTokens('<bos>314<eos><pad><pad>')).toEqual(ids);
    expect(copy.stringToTokens(' 3 1\t4\n')).toEqual([6, 4, 7]);
    const addition = createTask('addition');
    expect(addition.tokensToString([4, 5, 6, 13, 12, 12])).toBe('123+99');
    for (const name of TASK_NAMES) {
      const task = createTask(name);
      const sources = sampleMany(task, 200);
      expect(sources.map((source) => task.stringToTokens(task.tokensToString(source)))).toEqual(sources);
    }
  });

  it('names the bad character or id and the allowed ones', () => {
    const copy = createTask('copy');
    expect(() => copy.stringToTokens('31x4')).toThrow(
      'copy.stringToTokens: unexpected character "x" at position 2 of "31x4"; ' +
        'allowed: the symbols "0123456789", whitespace and <pad>, <bos>, <eos>',
    );
    expect(() => copy.stringToTokens('1+2')).toThrow('unexpected character "+" at position 1 of "1+2"');
    expect(() => copy.stringToTokens('<bo')).toThrow('unexpected character "<" at position 0 of "<bo"');
    expect(() => copy.stringToTokens('1🙂')).toThrow('unexpected character "🙂" at position 1 of "1🙂"');
    expect(() => createTask('addition').stringToTokens('1-2')).toThrow(
      'addition.stringToTokens: unexpected character "-" at position 1 of "1-2"; ' +
        'allowed: the symbols "0123456789+", whitespace and <pad>, <bos>, <eos>',
    );
    expect(() => copy.stringToTokens(5 as unknown as string)).toThrow(
      'copy.stringToTokens: text must be a string, got 5',
    );
    expect(() => copy.tokensToString([3, 13])).toThrow(
      'copy.tokensToString: ids[1] = 13 is not a token; expected an integer in [0, 12]',
    );
    expect(() => copy.tokensToString([-1])).toThrow(
      'copy.tokensToString: ids[0] = -1 is not a token; expected an integer in [0, 12]',
    );
    expect(() => copy.tokensToString([1.5])).toThrow(
      'copy.tokensToString: ids[0] = 1.5 is not a token; expected an integer in [0, 12]',
    );
  });
});
