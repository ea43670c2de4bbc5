/** The part of madge's API that scripts/check_folders.ts uses (madge ships no types). */
declare module 'madge' {
  interface MadgeResult {
    /** Each file (relative to the base folder) and the files it imports. */
    obj(): Record<string, string[]>;
  }
  function madge(path: string, config?: { fileExtensions?: string[] }): Promise<MadgeResult>;
  export default madge;
}
