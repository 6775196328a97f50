import type { ToolAdapter } from '../tool-registry.js';

/** `math.sum`: adds `numbers`. */
export const sumTool: ToolAdapter<{ numbers: unknown }, { sum: number }> = async ({ numbers }) => {
  if (!Array.isArray(numbers) || !numbers.every((n) => typeof n === 'number' && Number.isFinite(n))) {
    throw Object.assign(new Error('numbers must be an array of finite numbers'), { code: 'invalid_argument' });
  }
  return { sum: numbers.reduce((a: number, b: number) => a + b, 0) };
};

/** `text.wordCount`: words and characters of `text`. */
export const wordCountTool: ToolAdapter<{ text: unknown }, { words: number; characters: number }> = async ({ text }) => {
  if (typeof text !== 'string') throw Object.assign(new Error('text must be a string'), { code: 'invalid_argument' });
  return { words: text.split(/\s+/).filter(Boolean).length, characters: [...text].length };
};

/** `text.upper`: `text` in upper case. */
export const upperTool: ToolAdapter<{ text: unknown }, { text: string }> = async ({ text }) => {
  if (typeof text !== 'string') throw Object.assign(new Error('text must be a string'), { code: 'invalid_argument' });
  return { text: text.toUpperCase() };
};
