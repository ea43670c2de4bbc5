/** The one entry point of jsfive (which ships no types) that src/keras/hdf5.ts uses. */
declare module 'jsfive' {
  export class File {
    constructor(buffer: ArrayBuffer, filename: string);
  }
}
