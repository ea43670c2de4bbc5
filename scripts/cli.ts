/**
 * What every command line here ends with: run `main`, exit with the code it
 * returns; a UsageError prints one line, its message and where the options are
 * listed (`help`, e.g. 'npm run train -- --help'), and exits 2 (no stack trace,
 * no usage text burying the message); any other error prints its message and
 * exits 1 (the stack too with DEBUG set).
 */
import { UsageError } from '../src/train/options';

export { UsageError };

export function runMain(main: (argv: string[]) => Promise<number>, help: string): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError) {
        console.error(`error: ${error.message}; ${help} lists every option`);
        process.exit(2);
      }
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      if (process.env.DEBUG) console.error(error);
      process.exit(1);
    },
  );
}
