/**
 * `Seq2Seq`, the API a user calls on a trained model (models/reverse): `generate`'s options reach
 * the decoder (maxLength, headMasks, beamWidth) and its bounds are the model's, `score`'s target
 * bound, and the token helpers. The decoding itself is tested in test/decode.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import { decode, scoreTargets } from '../../src/decode/decode';
import '../../src/io/file_system';
import { loadSeq2Seq, Seq2Seq } from '../../src/model/seq2seq';

const FOLDER = path.join(__dirname, '..', '..', 'models', 'reverse');

describe('Seq2Seq (models/reverse)', () => {
  let reverse: Seq2Seq;
  // Reversed by the trained model: 7 and 12 symbols (the longest source it takes).
  const sources = [
    [3, 4, 5, 6, 7, 8, 9],
    [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 3, 4],
  ];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    reverse = await loadSeq2Seq(FOLDER);
  });
  afterAll(() => reverse.dispose());

  it('generates what decode gives, greedy by default; maxLength (EOS included) cuts the output', async () => {
    const greedy = await reverse.generate(sources);
    expect(greedy).toEqual(decode(reverse.model, sources).tokens);
    expect(greedy[0]).toEqual([...sources[0]].reverse());
    const short = await reverse.generate(sources, { maxLength: 4 });
    expect(short).toEqual(greedy.map((ids) => ids.slice(0, 4)));
    expect(short).toEqual(decode(reverse.model, sources, { maxLength: 4 }).tokens);
  });

  it("takes maxLength up to the model's maxTargetLength, naming the bound past it", async () => {
    expect(reverse.maxTargetLength).toBe(13);
    expect(await reverse.generate(sources, { maxLength: 13 })).toEqual(await reverse.generate(sources));
    for (const maxLength of [14, 0, 2.5]) {
      await expect(reverse.generate(sources, { maxLength })).rejects.toThrow(
        `generate: maxLength must be an integer in [1, 13] (this model's maxTargetLength), got ${maxLength}`,
      );
    }
  });

  it('passes headMasks and beamWidth on to the decoder', async () => {
    // Cross-attention's last layer carries the reversal (README, the study): without its heads the
    // output changes.
    const headMasks = { 'decoder_block_1/cross_attention': [0, 0, 0, 0] };
    const masked = await reverse.generate(sources, { headMasks });
    expect(masked).toEqual(decode(reverse.model, sources, { headMasks }).tokens);
    expect(masked).not.toEqual(await reverse.generate(sources));
    const beam = await reverse.generate(sources, { beamWidth: 3 });
    expect(beam).toEqual(decode(reverse.model, sources, { beamWidth: 3 }).tokens);
  });

  it('scores targets of up to maxTargetLength - 1 ids (EOS takes the last place) as scoreTargets does', () => {
    const targets = sources.map((s) => [...s].reverse());
    expect(reverse.score(sources, targets)).toEqual(scoreTargets(reverse.model, sources, targets));
    const longest = Array.from({ length: 12 }, () => 3);
    expect(reverse.score([sources[0]], [longest])).toHaveLength(1);
    expect(() => reverse.score([sources[0]], [[...longest, 3]])).toThrow(
      'score: targets[0] has 13 ids; this model takes at most 12',
    );
  });

  it('names tokens, and turns text into ids and back', () => {
    expect([0, 1, 2, 3, 12].map((id) => reverse.tokenName(id))).toEqual(['<pad>', '<bos>', '<eos>', '0', '9']);
    const ids = reverse.stringToTokens('3 14 1');
    expect(ids).toEqual([6, 4, 7, 4]);
    expect(reverse.tokensToString(ids)).toBe('3141');
    expect(() => reverse.stringToTokens('3a')).toThrow(/'a'|"a"/);
  });
});
