/**
 * Runs before every test file (jest.config.js, setupFiles). tfjs's cpu backend prints a banner
 * ("... install our node backend ...") on its first use in Node; these tests choose the cpu
 * backend on purpose, so the banner is dropped, exactly that text, and every other warning shows.
 * Nothing else of tfjs is changed (its IS_TEST and PROD flags, which would also silence it,
 * change what tfjs checks).
 */
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]): void => {
  if (typeof args[0] === 'string' && args[0].includes('install our node backend')) return;
  warn(...args);
};
